"""The notebook linter ``nbpipe promote`` runs first: what keeps a notebook from running in production.

Pure: works on the notebook JSON (a dict, or an ``nbformat`` node) with :mod:`ast`; it never
executes code. Each finding names the cell (``cell 3 (In [7])``), the line and the code, and says
how to fix it::

    NB100 warning  no cell is tagged ``parameters``
    NB101 error    ``spark.stop()`` (stops the session nbpipe shares)
    NB102 error    ``SparkSession.builder`` (use ``ctx.spark``: the profile decides where Spark runs)
    NB103 error    an absolute path into the warehouse or a dataset's directory (use ctx.read/ctx.write)
    NB104 warning  a relative path into the warehouse or a dataset's directory
    NB105 warning  a raw ``spark.read`` / ``df.write`` instead of ``ctx.read`` / ``ctx.write``
    NB106 warning  a cell that is not valid Python (it will fail when the notebook runs)

Errors block ``nbpipe promote``; warnings are printed.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal

Severity = Literal["error", "warning"]

PARAMETERS_TAG = "parameters"
READ_METHODS = frozenset({"csv", "parquet", "json", "orc", "text", "load", "table", "jdbc", "avro"})
WRITE_METHODS = frozenset(
    {"csv", "parquet", "json", "orc", "text", "save", "saveAsTable", "insertInto", "jdbc"}
)
_MAGIC_RE = re.compile(r"^\s*[%!?]")
_SCHEME_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


@dataclass(frozen=True)
class LintIssue:
    """One finding: what is wrong, where (cell, line) and how to fix it."""

    code: str
    severity: Severity
    message: str
    cell_index: int | None = None
    line: int | None = None
    execution_count: int | None = None
    source: str = ""

    @property
    def location(self) -> str:
        """``cell 3 (In [7]), line 2`` — how a person finds the spot in JupyterLab."""
        if self.cell_index is None:
            return "notebook"
        text = f"cell {self.cell_index}"
        if self.execution_count:
            text += f" (In [{self.execution_count}])"
        if self.line is not None:
            text += f", line {self.line}"
        return text

    def __str__(self) -> str:
        code = f": `{self.source}`" if self.source else ""
        return f"{self.severity} {self.code} {self.location}{code}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "cell_index": self.cell_index,
            "line": self.line,
            "execution_count": self.execution_count,
            "source": self.source,
            "location": self.location,
        }


@dataclass
class LintReport:
    """Every finding for one notebook, in cell order."""

    notebook: str
    issues: list[LintIssue] = field(default_factory=list)

    @property
    def errors(self) -> list[LintIssue]:
        return [i for i in self.issues if i.severity == "error"]

    @property
    def warnings(self) -> list[LintIssue]:
        return [i for i in self.issues if i.severity == "warning"]

    @property
    def ok(self) -> bool:
        """True when nothing blocks promotion (warnings allowed)."""
        return not self.errors

    def codes(self) -> list[str]:
        return [i.code for i in self.issues]

    def render(self) -> str:
        if not self.issues:
            return f"lint {self.notebook}: ok"
        head = f"lint {self.notebook}: {len(self.errors)} error(s), {len(self.warnings)} warning(s)"
        return "\n".join([head, *(f"  {issue}" for issue in self.issues)])


@dataclass(frozen=True)
class PathRoot:
    """A directory notebooks must not address by path, and the dataset that owns it (if any)."""

    path: Path
    dataset: str | None = None
    what: str = "the warehouse"


def lint_notebook(
    nb: Mapping[str, Any],
    *,
    name: str = "notebook",
    roots: Sequence[PathRoot] = (),
    project_root: Path | None = None,
) -> LintReport:
    """Lint a notebook's code cells.

    Args:
        nb: The notebook JSON (``nbformat`` v4 dict or node).
        name: How the notebook is named in messages (its path).
        roots: Directories that must only be reached through ``ctx.read``/``ctx.write`` (the
            warehouse, each file dataset's ``path``); see :func:`project_roots`.
        project_root: Base for relative path literals (``"warehouse/flights"``).
    """
    report = LintReport(notebook=name)
    cells = list(nb.get("cells", []))
    if not any(PARAMETERS_TAG in (c.get("metadata", {}).get("tags") or []) for c in cells):
        guess = _defaults_cell(cells)
        where = f" (cell {guess} looks like it holds the defaults)" if guess is not None else ""
        report.issues.append(
            LintIssue(
                "NB100",
                "warning",
                f"no cell is tagged 'parameters'{where}: `nbpipe run -p NAME=VALUE` cannot pass values and "
                "promote cannot infer parameter types. In JupyterLab select that cell, open the property "
                "inspector (gear icon, right sidebar) and add the tag 'parameters'",
            )
        )
    for index, cell in enumerate(cells):
        if cell.get("cell_type") != "code":
            continue
        report.issues.extend(_lint_cell(index, cell, roots, project_root))
    return report


def project_roots(project: Any) -> list[PathRoot]:
    """The directories of a :class:`nbpipe.core.config.Project` that notebooks must not address directly."""
    warehouse = Path(project.warehouse).resolve()
    out = [PathRoot(warehouse, None, "the warehouse")]
    for ds_name, ds in project.config.datasets.items():
        if ds.format not in ("csv", "json", "parquet") or (ds.path and "://" in ds.path):
            continue
        where = project.path(ds.path).resolve() if ds.path else warehouse / ds_name
        out.append(PathRoot(where, ds_name, f"dataset {ds_name!r}"))
    return out


def _defaults_cell(cells: Sequence[Mapping[str, Any]]) -> int | None:
    """Index of the first code cell made only of ``name = <literal>`` lines, if any."""
    for index, cell in enumerate(cells):
        if cell.get("cell_type") != "code":
            continue
        try:
            tree = ast.parse(_source(cell))
        except SyntaxError:
            return None
        body = tree.body
        if body and all(isinstance(s, (ast.Assign, ast.AnnAssign)) and _is_literal(s.value) for s in body):
            return index
        if body:
            return None
    return None


def _is_literal(node: ast.AST | None) -> bool:
    if node is None:
        return False
    try:
        ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError):
        return False
    return True


def _source(cell: Mapping[str, Any]) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def _python(source: str) -> str:
    """Blank out IPython magics and shell escapes, keeping line numbers."""
    lines = source.split("\n")
    if lines and lines[0].lstrip().startswith("%%"):
        return ""
    return "\n".join("" if _MAGIC_RE.match(line) else line for line in lines)


def _lint_cell(
    index: int, cell: Mapping[str, Any], roots: Sequence[PathRoot], project_root: Path | None
) -> Iterator[LintIssue]:
    source = _source(cell)
    count = cell.get("execution_count")
    lines = source.split("\n")

    def issue(code: str, severity: Severity, message: str, node: ast.AST | None) -> LintIssue:
        lineno = getattr(node, "lineno", None)
        text = lines[lineno - 1].strip() if lineno and lineno <= len(lines) else ""
        return LintIssue(code, severity, message, index, lineno, count, text[:120])

    try:
        tree = ast.parse(_python(source))
    except SyntaxError as exc:
        yield LintIssue(
            "NB106",
            "warning",
            f"not valid Python ({exc.msg}); the cell will fail when it runs",
            index,
            exc.lineno,
            count,
            (exc.text or "").strip()[:120],
        )
        return
    seen: set[tuple[str, int | None]] = set()
    for node, code, severity, message in _findings(tree, roots, project_root):
        key = (code, getattr(node, "lineno", None))
        if key in seen:
            continue
        seen.add(key)
        yield issue(code, severity, message, node)


def _findings(
    tree: ast.AST, roots: Sequence[PathRoot], project_root: Path | None
) -> Iterator[tuple[ast.AST, str, Severity, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            attr = node.func.attr
            chain = _chain(node.func.value)
            if attr == "stop" and _is_spark(chain):
                yield (
                    node,
                    "NB101",
                    "error",
                    (
                        "stops the Spark session nbpipe shares between cells, checks and the runner; "
                        "remove it "
                        "(the session ends with the kernel)"
                    ),
                )
            elif attr in READ_METHODS and ("read" in chain or "readStream" in chain):
                yield (
                    node,
                    "NB105",
                    "warning",
                    (
                        f"reads with spark.read…{attr}() instead of ctx.read(NAME): the read is not "
                        "recorded, has "
                        "no contract and no incremental state; declare the dataset in nbpipe.yaml and use "
                        "ctx.read / ctx.incremental"
                    ),
                )
            elif attr in WRITE_METHODS and ("write" in chain or "writeStream" in chain):
                yield (
                    node,
                    "NB105",
                    "warning",
                    (
                        f"writes with .write…{attr}() instead of ctx.write(df, NAME): the output is not "
                        "contract-checked, staged or published atomically; use ctx.write"
                    ),
                )
        elif (
            isinstance(node, ast.Attribute)
            and node.attr == "builder"
            and _chain(node.value)[-1:] == ["SparkSession"]
        ):
            yield (
                node,
                "NB102",
                "error",
                (
                    "builds its own SparkSession; use `spark = ctx.spark` so the profile in nbpipe.yaml "
                    "decides "
                    "where Spark runs (local, standalone master or Spark Connect)"
                ),
            )
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            hit = _path_hit(node.value, roots, project_root)
            if hit is not None:
                absolute, root = hit
                use = (
                    f"ctx.read({root.dataset!r}) / ctx.write(df, {root.dataset!r})"
                    if root.dataset
                    else "ctx.read(NAME) / ctx.write(df, NAME) with the dataset declared in nbpipe.yaml"
                )
                kind = "an absolute path" if absolute else "a path"
                yield (
                    node,
                    "NB103" if absolute else "NB104",
                    "error" if absolute else "warning",
                    (
                        f"{kind} into {root.what} ({node.value!r}) ties the notebook to one machine and "
                        "bypasses "
                        f"contracts and staging; use {use}"
                    ),
                )


def _chain(node: ast.AST) -> list[str]:
    """Names along an attribute/call chain: ``spark.read.format(x)`` → ``[spark, read, format]``."""
    out: list[str] = []
    while True:
        if isinstance(node, ast.Attribute):
            out.append(node.attr)
            node = node.value
        elif isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Name):
            out.append(node.id)
            break
        else:
            break
    return out[::-1]


def _is_spark(chain: Sequence[str]) -> bool:
    """True for receivers like ``spark``, ``ctx.spark``, ``SparkSession.getActiveSession()``, ``sc``."""
    if not chain:
        return False
    last = chain[-1]
    return "spark" in last.lower() or last in ("sc", "sparkContext") or "SparkSession" in chain


def _path_hit(
    text: str, roots: Sequence[PathRoot], project_root: Path | None
) -> tuple[bool, PathRoot] | None:
    """``(is_absolute, root)`` when ``text`` is a path inside one of ``roots``."""
    value = text.strip()
    if not value or "\n" in value or len(value) > 4096:
        return None
    if value.startswith("file:"):
        value = re.sub(r"^file:(//)?", "", value)
    elif _SCHEME_RE.match(value):
        return None
    absolute = value.startswith("/")
    if not absolute and ("/" not in value or project_root is None or " " in value):
        return None
    candidate = Path(value) if absolute else Path(project_root or ".") / PurePosixPath(value)
    try:
        resolved = candidate.resolve()
    except (OSError, RuntimeError, ValueError):
        return None
    best: PathRoot | None = None
    for root in roots:
        inside = resolved == root.path or root.path in resolved.parents
        if inside and (best is None or len(root.path.parts) > len(best.path.parts)):
            best = root  # the most specific root names the dataset
    return (absolute, best) if best is not None else None
