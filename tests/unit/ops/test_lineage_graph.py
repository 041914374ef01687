"""The lineage graph: config merged with what runs did, undeclared edges flagged, sub-graphs, layout."""

from __future__ import annotations

from pathlib import Path

import pytest

from nbpipe.errors import ParameterError
from nbpipe.ops.lineage_graph import build_graph
from nbpipe.report.catalog.svg import _layers, lineage_svg
from tests.support.projects import load

OBSERVED = [
    ("ingest", "raw", "in"), ("ingest", "flights", "out"), ("ingest", "flights__rejected", "out"),
    ("stats", "flights", "in"), ("stats", "airports", "in"), ("stats", "daily", "out"),
    ("adhoc", "daily", "in"), ("adhoc", "../../etc/passwd", "in"), ("../x", "daily", "out"),
]  # fmt: skip


@pytest.fixture
def graph(tmp_path: Path):  # type: ignore[no-untyped-def]
    project = load(tmp_path, datasets={"raw": {"format": "csv", "path": "raw"}, "flights": {}, "daily": {}},
                   pipelines={"ingest": {"notebook": "i.ipynb", "reads": ["raw"], "writes": ["flights"]},
                              "stats": {"notebook": "s.ipynb", "reads": ["flights"], "writes": ["daily"]},
                              "unused": {"notebook": "u.ipynb", "reads": ["raw"]}})
    return build_graph(project.config, OBSERVED)


def test_undeclared_reads_are_flagged_with_the_key_to_add(graph) -> None:  # type: ignore[no-untyped-def]
    found = graph.to_dict()
    assert found["undeclared"] == [
        {"pipeline": "stats", "dataset": "airports", "role": "reads",
         "fix": "add airports to pipelines.stats.reads in nbpipe.yaml"},
        {"pipeline": "adhoc", "dataset": "daily", "role": "reads",
         "fix": "add daily to pipelines.adhoc.reads in nbpipe.yaml"},
    ]  # fmt: skip
    assert "dataset:flights__rejected" not in graph.nodes  # nbpipe's quarantine is part of its dataset
    assert not [n for n in graph.nodes if "/" in n]  # never a page path outside the site
    assert not graph.nodes["dataset:airports"].declared and not graph.nodes["pipeline:adhoc"].declared
    edge = graph.edges[("dataset:raw", "pipeline:unused")]
    assert edge.declared and not edge.observed and not edge.undeclared
    text = "\n".join(graph.render())
    assert "reads  airports  UNDECLARED: add airports to pipelines.stats.reads" in text
    assert "reads  raw  (declared; no run observed it yet)" in text


def test_upstream_and_downstream_of_a_dataset(graph) -> None:  # type: ignore[no-untyped-def]
    up = graph.around("daily", "upstream")
    assert sorted(up.nodes) == ["dataset:airports", "dataset:daily", "dataset:flights", "dataset:raw",
                                "pipeline:ingest", "pipeline:stats"]
    down = graph.around("flights", "downstream")
    assert sorted(down.nodes) == ["dataset:daily", "dataset:flights", "pipeline:adhoc", "pipeline:stats"]
    assert sorted(graph.around("ingest").nodes) == ["dataset:daily", "dataset:flights", "dataset:raw",
                                                   "pipeline:adhoc", "pipeline:ingest", "pipeline:stats"]


def test_an_unknown_name_is_a_parameter_error_with_a_suggestion(graph) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ParameterError, match=r"no dataset or pipeline 'flight' .*did you mean 'flights'") as info:
        graph.around("flight")
    assert info.value.exit_code == 3


def test_layers_follow_the_flow_and_survive_a_cycle() -> None:
    # a pipeline that merges into the dataset it reads closes a cycle
    edges = [("dataset:a", "pipeline:p"), ("pipeline:p", "dataset:b"), ("pipeline:p", "dataset:a"),
             ("dataset:b", "pipeline:q")]
    layer = _layers(["dataset:a", "dataset:b", "pipeline:p", "pipeline:q"], edges)
    assert layer == {"dataset:a": 0, "pipeline:p": 1, "dataset:b": 2, "pipeline:q": 3}
    nodes = [{"id": i, "kind": i.split(":")[0], "name": i.split(":")[1] + "<x>"} for i in layer]
    svg = lineage_svg(nodes, [{"from": s, "to": t} for s, t in edges], lambda n: f"{n['name']}.html")
    assert svg.count('<path class="edge') == 4 and "&lt;x&gt;" in svg and "<x>" not in svg
