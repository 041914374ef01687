"""OpenLineage for tests: a real HTTP receiver on 127.0.0.1 and validation against the spec's schemas.

``Receiver`` is ``http.server`` in a thread on a free port: it stores the JSON body of every
``POST /api/v1/lineage`` (``receiver.events``). ``validate_event`` checks one event against the
vendored ``OpenLineage.json`` and every facet it carries against that facet's schema
(``tests/data/openlineage``; ``$ref`` across files resolved through a ``referencing`` registry).
"""

from __future__ import annotations

import json
import threading
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource

SCHEMAS = Path(__file__).resolve().parents[1] / "data" / "openlineage"
CORE_ID = "https://openlineage.io/spec/2-0-2/OpenLineage.json"


class Receiver:
    """An OpenLineage HTTP endpoint that records what it receives (start with ``with Receiver() as r``)."""

    def __init__(self, port: int = 0) -> None:
        self.events: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.headers: list[dict[str, str]] = []
        received = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                received.paths.append(self.path)
                received.headers.append(dict(self.headers))
                received.events.append(json.loads(body))
                self.send_response(201)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def of_run(self, run_id: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["run"]["runId"] == run_id]


@cache
def _registry() -> Registry:
    resources = []
    for path in [SCHEMAS / "OpenLineage.json", *sorted((SCHEMAS / "facets").glob("*.json"))]:
        schema = json.loads(path.read_text())
        resources.append((schema["$id"], Resource.from_contents(schema)))
    return Registry().with_resources(resources)


def _validator(schema_id: str, pointer: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator({"$ref": f"{schema_id}#{pointer}"}, registry=_registry(),
                                           format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def _facet_schema_ids() -> dict[str, str]:
    """``{facet file stem: $id}`` of the vendored facet schemas."""
    return {p.stem: json.loads(p.read_text())["$id"] for p in (SCHEMAS / "facets").glob("*.json")}


def validate_event(event: dict[str, Any]) -> list[str]:
    """Validate ``event`` and each facet in it; return the facet keys checked (raises on any error)."""
    _validator(CORE_ID, "/$defs/RunEvent").validate(event)
    ids = _facet_schema_ids()
    checked = []
    facet_groups = [event["run"].get("facets", {}), event["job"].get("facets", {})]
    for ds in event.get("inputs", []) + event.get("outputs", []):
        facet_groups += [ds.get("facets", {}), ds.get("inputFacets", {}), ds.get("outputFacets", {})]
    for group in facet_groups:
        for key, facet in group.items():
            url = facet["_schemaURL"]
            stem = url.split("/")[-1].split(".json")[0]
            assert stem in ids, f"facet {key} has schema {url}, which is not vendored"
            assert url.split("#")[0] == ids[stem], f"facet {key}: {url} differs from the vendored {ids[stem]}"
            _validator(ids[stem], url.split("#", 1)[1]).validate(facet)
            checked.append(key)
    return checked
