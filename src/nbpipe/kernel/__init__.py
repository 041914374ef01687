"""The kernel side's entry point: ``nbpipe.context()`` and the ``RunContext`` a notebook works with."""
