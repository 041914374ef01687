"""OpenLineage events for nbpipe runs (issue #15, item 1).

* :mod:`.settings` — on/off, transport and namespace (``lineage:`` in nbpipe.yaml or the client's
  standard ``OPENLINEAGE_URL`` / ``OPENLINEAGE_CONFIG`` / ``openlineage.yml``); imports no client;
* :mod:`.naming` — datasets named per the OpenLineage naming spec;
* :mod:`.build` — events and facets with ``openlineage.client.event_v2``/``facet_v2``;
* :mod:`.outbox` — events on disk in the run directory until delivered;
* :mod:`.forward` — background delivery with a short timeout, and ``flush``;
* :mod:`.emitter` — START / COMPLETE / FAIL / ABORT of one run (and of a killed one);
* :mod:`.summary` — the run report's lineage (inputs → pipeline → outputs).

Only :mod:`.build`, :mod:`.forward` and :mod:`.emitter` import ``openlineage``, and only when
lineage is on; this package's import costs nothing.
"""
