"""The lineage graph: which pipelines read and write which datasets (``nbpipe lineage``, the catalog).

Two sources are merged: what ``nbpipe.yaml`` declares (``pipelines.*.reads`` / ``writes``) and what
production runs actually did (the run store's ``datasets`` rows, one per dataset a run read or
wrote). An edge a run observed but the config does not declare is *undeclared*: the notebook read
(or wrote) a dataset the DAG, the freshness checks and the catalog do not know it depends on, so it
is flagged with the exact key to add. An edge only the config declares is kept (``observed: false``).

Nodes are ``dataset:<name>`` and ``pipeline:<name>``; edges point the way data flows
(dataset → pipeline for a read, pipeline → dataset for a write). Explore runs and nbpipe's own
quarantine outputs (``<dataset>__rejected``) are left out.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from nbpipe.core.config import NAME_RE, ProjectConfig
from nbpipe.core.layout import REJECTED_SUFFIX
from nbpipe.errors import ParameterError, StoreError, did_you_mean

Kind = Literal["dataset", "pipeline"]
Direction = Literal["both", "upstream", "downstream"]


@dataclass(frozen=True)
class Node:
    """A dataset or a pipeline; ``declared`` when ``nbpipe.yaml`` names it."""

    kind: Kind
    name: str
    declared: bool

    @property
    def id(self) -> str:
        return f"{self.kind}:{self.name}"


@dataclass
class Edge:
    """Data flowing from ``source`` to ``target`` (node ids)."""

    source: str
    target: str
    declared: bool = False
    observed: bool = False

    @property
    def undeclared(self) -> bool:
        return self.observed and not self.declared

    @property
    def pipeline(self) -> str:
        return (self.target if self.source.startswith("dataset:") else self.source).split(":", 1)[1]

    @property
    def dataset(self) -> str:
        return (self.source if self.source.startswith("dataset:") else self.target).split(":", 1)[1]

    @property
    def role(self) -> Literal["reads", "writes"]:
        return "reads" if self.source.startswith("dataset:") else "writes"

    def fix(self) -> str:
        """The config key that would declare this edge."""
        return f"add {self.dataset} to pipelines.{self.pipeline}.{self.role} in nbpipe.yaml"


@dataclass
class LineageGraph:
    """Datasets and pipelines with the edges between them."""

    nodes: dict[str, Node] = field(default_factory=dict)
    edges: dict[tuple[str, str], Edge] = field(default_factory=dict)
    _adjacent: dict[str, dict[str, list[str]]] = field(default_factory=dict, repr=False)  # per direction

    def add(self, kind: Kind, name: str, *, declared: bool) -> str:
        node = Node(kind, name, declared)
        old = self.nodes.get(node.id)
        if old is None or (declared and not old.declared):
            self.nodes[node.id] = node
        return node.id

    def link(self, source: str, target: str, *, declared: bool = False, observed: bool = False) -> None:
        self._adjacent.clear()
        edge = self.edges.setdefault((source, target), Edge(source, target))
        edge.declared |= declared
        edge.observed |= observed

    def reachable(self, start: Iterable[str], direction: Literal["upstream", "downstream"]) -> set[str]:
        """Every node reachable from ``start`` against (upstream) or along (downstream) the edges."""
        nxt = self._adjacent.get(direction)
        if nxt is None:
            nxt = self._adjacent[direction] = {}
            for s, t in self.edges:
                a, b = (t, s) if direction == "upstream" else (s, t)
                nxt.setdefault(a, []).append(b)
        seen = set(start)
        queue = deque(seen)
        while queue:
            for other in nxt.get(queue.popleft(), ()):
                if other not in seen:
                    seen.add(other)
                    queue.append(other)
        return seen

    def around(self, name: str, direction: Direction = "both") -> LineageGraph:
        """The part of the graph upstream and/or downstream of the dataset or pipeline ``name``.

        Raises:
            ParameterError: no dataset or pipeline is called ``name`` (with a did-you-mean).
        """
        start = [i for i in (f"dataset:{name}", f"pipeline:{name}") if i in self.nodes]
        if not start:
            names = sorted({n.name for n in self.nodes.values()})
            raise ParameterError(
                f"no dataset or pipeline {name!r} in the lineage graph{did_you_mean(name, names)}",
                hint="run `nbpipe lineage` to list every dataset and pipeline it knows",
            )
        return self.around_ids(start, direction)

    def around_ids(self, start: list[str], direction: Direction = "both") -> LineageGraph:
        """The part of the graph upstream and/or downstream of the nodes ``start`` (ids)."""
        keep: set[str] = set(start)
        if direction in ("both", "upstream"):
            keep |= self.reachable(start, "upstream")
        if direction in ("both", "downstream"):
            keep |= self.reachable(start, "downstream")
        sub = LineageGraph({i: n for i, n in self.nodes.items() if i in keep})
        sub.edges = {k: e for k, e in self.edges.items() if k[0] in keep and k[1] in keep}
        return sub

    @property
    def undeclared(self) -> list[Edge]:
        return [e for e in self.sorted_edges() if e.undeclared]

    def sorted_edges(self) -> list[Edge]:
        return [self.edges[k] for k in sorted(self.edges)]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (``nbpipe lineage --json``)."""
        return {
            "nodes": [{"id": n.id, "kind": n.kind, "name": n.name, "declared": n.declared}
                      for n in sorted(self.nodes.values(), key=lambda n: n.id)],
            "edges": [{"from": e.source, "to": e.target, "declared": e.declared, "observed": e.observed,
                       "undeclared": e.undeclared} for e in self.sorted_edges()],
            "undeclared": [{"pipeline": e.pipeline, "dataset": e.dataset, "role": e.role, "fix": e.fix()}
                           for e in self.undeclared],
        }

    def render(self) -> list[str]:
        """Plain text lines: each pipeline with what it reads and writes, then lone datasets."""
        lines: list[str] = []
        linked: set[str] = set()
        for node in sorted((n for n in self.nodes.values() if n.kind == "pipeline"), key=lambda n: n.name):
            lines.append(f"pipeline {node.name}" + ("" if node.declared else "  (not in nbpipe.yaml)"))
            mine = [e for e in self.sorted_edges() if e.pipeline == node.name]
            for e in sorted(mine, key=lambda e: (e.role, e.dataset)):
                linked.add(f"dataset:{e.dataset}")
                note = "" if e.observed else "  (declared; no run observed it yet)"
                if e.undeclared:
                    note = f"  UNDECLARED: {e.fix()}"
                lines.append(f"  {e.role:<6} {e.dataset}{note}")
        lone = sorted(n.name for n in self.nodes.values() if n.kind == "dataset" and n.id not in linked)
        if lone:
            lines.append("datasets no pipeline reads or writes: " + ", ".join(lone))
        return lines


def build_graph(config: ProjectConfig, observed: Iterable[tuple[str, str, str]] = ()) -> LineageGraph:
    """The graph of ``config`` merged with ``observed`` ``(pipeline, dataset, "in"|"out")`` facts."""
    graph = LineageGraph()
    for name in config.datasets:
        graph.add("dataset", name, declared=True)
    for name, pipe in config.pipelines.items():
        p = graph.add("pipeline", name, declared=True)
        for ds in pipe.reads:
            graph.link(graph.add("dataset", ds, declared=ds in config.datasets), p, declared=True)
        for ds in pipe.writes:
            graph.link(p, graph.add("dataset", ds, declared=ds in config.datasets), declared=True)
    for pipeline, dataset, direction in observed:
        if dataset.endswith(REJECTED_SUFFIX) or not (NAME_RE.match(dataset) and NAME_RE.match(pipeline)):
            continue  # a quarantine, or a name no dataset/pipeline can have (never a page path)
        p = graph.add("pipeline", pipeline, declared=pipeline in config.pipelines)
        d = graph.add("dataset", dataset, declared=dataset in config.datasets)
        graph.link(*((d, p) if direction == "in" else (p, d)), observed=True)
    return graph


def observed_edges(store: Any) -> list[tuple[str, str, str]]:
    """Distinct ``(pipeline, dataset, direction)`` of every non-explore run in the run store."""
    import sqlalchemy as sa

    from nbpipe.run.store_schema import datasets, runs

    query = (
        sa.select(runs.c.pipeline, datasets.c.dataset, datasets.c.direction)
        .join(datasets, datasets.c.run_id == runs.c.run_id)
        .where(sa.or_(runs.c.mode.is_(None), runs.c.mode != "explore"))
        .distinct()
    )
    try:
        with store.engine.connect() as conn:
            return [(str(p), str(d), str(x)) for p, d, x in conn.execute(query)]
    except sa.exc.SQLAlchemyError as exc:
        raise StoreError(f"run store {store.safe_url}: could not read the lineage of past runs: "
                         f"{type(exc).__name__}", hint="check the `store:` of the profile in nbpipe.yaml") from exc


def project_graph(project: Any, store: Any) -> LineageGraph:
    """The project's graph: its config merged with what its runs read and wrote."""
    return build_graph(project.config, observed_edges(store))
