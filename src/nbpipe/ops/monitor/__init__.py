"""``nbpipe monitor``: data-alert rules over the run store (``rules``) and the pass that applies them (``service``)."""
