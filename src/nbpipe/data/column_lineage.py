"""Column lineage of a write, derived from Spark's analyzed plan (classic sessions and Spark Connect).

A production read tags its frame (:func:`tag`: a projection of its columns under the alias
``nbpipe__<dataset>``), so the dataset's columns appear in any later plan as the output of a
``SubqueryAlias nbpipe__<dataset>`` node. At write time :func:`derive` reads the analyzed plan
as text — ``queryExecution().analyzed()`` on a classic session, ``explain(extended)`` over
Connect — follows each written column through ``expr AS name#id`` aliases down to those tagged
columns and reports ``{column: [{dataset, field, subtype}]}``: ``IDENTITY`` for a column that is
a source column (kept or renamed), ``TRANSFORMATION`` for one computed from source columns.

Covered: projections, renames, casts and expressions over columns, through filters, sorts,
joins and aggregates (``name#id`` attributes pass through them unchanged). Not covered: the
second and later sides of a ``union`` (Spark keeps the first side's attribute ids), frames not
read with ``ctx.read``/``ctx.incremental``, and indirect lineage (columns used only in filters,
joins or grouping). Any failure gives no lineage, never a failed write.
"""

from __future__ import annotations

import re
from typing import Any

ALIAS_PREFIX = "nbpipe__"
_ATTR = re.compile(r"([^\s,\[\]()#]+)#(\d+)L?")
_ALIAS_ITEM = re.compile(r"^(.*) AS ([^\s,\[\]()#]+)#(\d+)L?$", re.S)
_TREE = re.compile(r"^[\s:+\-|]*")
MAX_PLAN_CHARS = 2_000_000
_MAX_FIELDS = "spark.sql.debug.maxToStringFields"


def tag(df: Any, dataset: str) -> Any:
    """``df`` under the alias ``nbpipe__<dataset>`` (a plain projection of its columns; same data)."""
    try:
        return df.select(*[f"`{c}`" for c in df.columns]).alias(ALIAS_PREFIX + dataset)
    except Exception:  # an untaggable frame (duplicate names) simply has no column lineage
        return df


def derive(df: Any) -> dict[str, list[dict[str, str]]] | None:
    """``{written column: [{dataset, field, subtype}]}`` for ``df``, or None when nothing can be derived."""
    try:
        probe = df.select(*[f"`{c}`" for c in df.columns])  # the top node lists the output attributes in order
        text = _analyzed(probe)
        return parse(text, list(df.columns)) if text else None
    except Exception:  # lineage is best effort; the write goes on without it
        return None


def _analyzed(df: Any) -> str | None:
    """The analyzed plan's text, every field printed (``maxToStringFields`` raised while it is built)."""
    conf = df.sparkSession.conf
    before = conf.get(_MAX_FIELDS, None)
    conf.set(_MAX_FIELDS, "100000")
    try:
        return _plan_text(df)
    finally:
        if before is None:
            conf.unset(_MAX_FIELDS)
        else:
            conf.set(_MAX_FIELDS, before)


def _plan_text(df: Any) -> str | None:
    jdf = getattr(df, "_jdf", None)
    if jdf is not None:  # a classic session
        return str(jdf.queryExecution().analyzed().toString())
    explain = getattr(df, "_explain_string", None)
    if explain is None:
        return None
    text = str(explain(extended=True))
    start = text.find("== Analyzed Logical Plan ==")
    end = text.find("== Optimized Logical Plan ==")
    if start < 0:
        return None
    section = text[start:end if end > 0 else None].splitlines()[2:]  # title line, then the schema line
    return "\n".join(section)


def parse(plan: str, columns: list[str]) -> dict[str, list[dict[str, str]]] | None:
    """Column lineage from an analyzed plan's text whose top node is ``Project`` over ``columns``."""
    lines = [_TREE.sub("", line) for line in plan[:MAX_PLAN_CHARS].splitlines() if line.strip()]
    if not lines or not lines[0].startswith("Project ["):
        return None
    aliases: dict[str, tuple[list[str], bool]] = {}
    sources: dict[str, tuple[str, str]] = {}
    for i, node in enumerate(lines):
        for group in _groups(node):
            for item in _split(group):
                m = _ALIAS_ITEM.match(item.strip())
                if m:
                    expr = m.group(1).strip()
                    refs = [ref for _, ref in _ATTR.findall(expr)]
                    aliases[m.group(3)] = (refs, _ATTR.fullmatch(expr) is not None)
        if node.startswith("SubqueryAlias " + ALIAS_PREFIX):
            dataset = node.split()[1][len(ALIAS_PREFIX):]
            for name, ref in _output(lines, i + 1):
                sources[ref] = (dataset, name)
    top = _output(lines, 0)
    if len(top) != len(columns):
        return None

    def trace(ref: str, direct: bool, depth: int = 0) -> list[tuple[str, str, bool]]:
        if ref in sources:
            return [(*sources[ref], direct)]
        if ref not in aliases or depth > 200:
            return []
        refs, plain = aliases[ref]
        return [hit for r in refs for hit in trace(r, direct and plain, depth + 1)]

    out: dict[str, list[dict[str, str]]] = {}
    for column, (_, ref) in zip(columns, top, strict=True):
        seen: dict[tuple[str, str], bool] = {}
        for dataset, field, direct in trace(ref, True):
            seen[(dataset, field)] = seen.get((dataset, field), True) and direct
        if seen:
            out[column] = [{"dataset": d, "field": f, "subtype": "IDENTITY" if direct else "TRANSFORMATION"}
                           for (d, f), direct in sorted(seen.items())]
    return out or None


def _output(lines: list[str], index: int) -> list[tuple[str, str]]:
    """``[(name, id)]`` a node outputs: a Project's or Aggregate's list, a leaf's attributes, else its child's."""
    for node in lines[index:index + 50]:
        groups = _groups(node)
        if node.startswith("Project [") or (node.startswith("Aggregate [") and len(groups) > 1):
            items = _split(groups[0] if node.startswith("Project") else groups[-1])
            out = []
            for item in items:
                m = _ALIAS_ITEM.match(item.strip()) or _ATTR.fullmatch(item.strip())
                if m is None:
                    return []
                out.append((m.group(m.lastindex - 1 if m.lastindex else 1), m.group(m.lastindex or 2)))
            return out
        if groups and node.split(" ")[0] in ("Relation", "LocalRelation", "LogicalRDD", "LogicalRelation"):
            return [(n, r) for n, r in _ATTR.findall(groups[0])]
        if node.startswith(("Join", "Union")):
            return []  # several children: only a Project above them names the output
    return []


def _groups(node: str) -> list[str]:
    """The top-level ``[...]`` groups of one plan node."""
    out, depth, start = [], 0, -1
    for i, ch in enumerate(node):
        if ch == "[":
            if depth == 0:
                start = i + 1
            depth += 1
        elif ch == "]" and depth:
            depth -= 1
            if depth == 0:
                out.append(node[start:i])
    return out


def _split(group: str) -> list[str]:
    """Split a list on commas outside parentheses and brackets."""
    out: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in group:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if cur:
        out.append("".join(cur))
    return [x for x in (s.strip() for s in out) if x]
