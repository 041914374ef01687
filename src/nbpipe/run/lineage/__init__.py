"""OpenLineage events for nbpipe runs (issue #15, item 1).

* :mod:`.settings` — on/off, transport and namespace (``lineage:`` in nbpipe.yaml or the client's
  standard ``OPENLINEAGE_URL`` / ``OPENLINEAGE_CONFIG`` / ``openlineage.yml``); imports no client;
* :mod:`nbpipe.core.lineage_names` — datasets named per the OpenLineage naming spec, and the run
  report's lineage (inputs → pipeline → outputs), pure so the report layer can use them;
* :mod:`.jobinfo` — a run's identity (UUID v7) and its parents, without the client;
* :mod:`.build` — events and facets with ``openlineage.client.event_v2``/``facet_v2``;
* :mod:`.outbox` — events on disk in the run directory until delivered;
* :mod:`.forward` — background delivery with a short timeout, and ``flush``;
* :mod:`.emitter` — START / COMPLETE / FAIL / ABORT of one run (and of a killed one);

Only :mod:`.build`, :mod:`.forward` and :mod:`.emitter` import ``openlineage``, and only when
lineage is on; this package's import costs nothing.
"""
