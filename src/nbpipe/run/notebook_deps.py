"""What a notebook's code depends on, found by reading it (``ast``), never by running it.

* The **project-local Python modules** it imports, followed transitively: ``import helpers`` and
  ``from lib.clean import fix`` resolve against the notebook's directory (the kernel's working
  directory) and the project root; relative imports inside those modules resolve against their
  package. Modules that resolve outside the project (stdlib, site-packages) are not followed.
* The **dataset and suite names** it passes as string literals to ``ctx.read``,
  ``ctx.incremental``, ``ctx.write`` and ``ctx.check`` (any ``x.read("name")`` call counts; the
  caller keeps only names declared in ``nbpipe.yaml``) (names built at run time are found from
  the last successful run's events instead, see :mod:`nbpipe.run.uptodate`).

IPython syntax (``%magic``, ``!shell``) is turned into Python with IPython's own transformer first.
Imports done by name at run time (``importlib.import_module(name)``) cannot be seen.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

_READ_CALLS = ("read", "incremental")  # the dataset name is the first argument
_WRITE_CALL = "write"  # ctx.write(df, name)
_SUITE_CALL = "check"


@dataclass
class NotebookDeps:
    """The local modules (project-relative path -> file) and names a notebook's code refers to."""

    modules: dict[str, Path] = field(default_factory=dict)
    reads: set[str] = field(default_factory=set)  # ctx.read / ctx.incremental
    writes: set[str] = field(default_factory=set)  # ctx.write, and ctx.check(dataset=...)
    suites: set[str] = field(default_factory=set)
    unparsed: list[str] = field(default_factory=list)  # cells or modules that are not valid Python


def parse_cells(sources: Iterable[str]) -> Iterator[ast.Module | None]:
    """Each code cell as an AST (None for a cell that is not valid Python even after IPython's transforms)."""
    from IPython.core.inputtransformer2 import TransformerManager

    transformer = TransformerManager()
    for source in sources:
        try:
            yield ast.parse(transformer.transform_cell(source))
        except (SyntaxError, ValueError):
            yield None


def analyse(sources: list[str], notebook_dir: Path, project_root: Path) -> NotebookDeps:
    """The dependencies of the code cells ``sources`` of a notebook in ``notebook_dir``."""
    deps = NotebookDeps()
    root = project_root.resolve()
    search = [notebook_dir.resolve(), root]
    pending: list[tuple[Path | None, ast.Module]] = []
    for index, tree in enumerate(parse_cells(sources)):
        if tree is None:
            deps.unparsed.append(f"code cell {index + 1}")
            continue
        _names(tree, deps)
        pending.append((None, tree))
    while pending:
        origin, tree = pending.pop()
        for module, level in _imports(tree):
            for path in _resolve(module, level, origin, search, root):
                rel = path.relative_to(root).as_posix()
                if rel in deps.modules:
                    continue
                deps.modules[rel] = path
                try:
                    pending.append((path, ast.parse(path.read_bytes(), filename=str(path))))
                except (SyntaxError, ValueError, OSError):
                    deps.unparsed.append(rel)  # its source is still hashed
    return deps


def _names(tree: ast.Module, deps: NotebookDeps) -> None:
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        method = node.func.attr
        if method in _READ_CALLS:
            _add(deps.reads, _literal(node, 0, "name"))
        elif method == _WRITE_CALL:
            _add(deps.writes, _literal(node, 1, "name"))
        elif method == _SUITE_CALL:
            _add(deps.suites, _literal(node, 1, "suite"))
            _add(deps.writes, _literal(node, -1, "dataset"))


def _add(names: set[str], name: str | None) -> None:
    if name:
        names.add(name)


def _literal(call: ast.Call, position: int, keyword: str) -> str | None:
    for kw in call.keywords:
        if kw.arg == keyword and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str):
            return kw.value.value
    if 0 <= position < len(call.args):
        arg = call.args[position]
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            return arg.value
    return None


def _imports(tree: ast.Module) -> Iterator[tuple[str, int]]:
    """``(dotted module, relative level)`` of every import, with ``from m import x`` also giving ``m.x``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, 0
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            yield base, node.level
            for alias in node.names:
                if alias.name != "*":
                    yield f"{base}.{alias.name}" if base else alias.name, node.level


def _resolve(module: str, level: int, origin: Path | None, search: list[Path], root: Path) -> list[Path]:
    """The project files ``import module`` executes: each package's ``__init__.py`` and the module."""
    if level:
        if origin is None:
            return []  # a relative import in a notebook cell does not work; the run reports it
        bases = [origin.parents[level - 1]] if level <= len(origin.parents) else []
    else:
        bases = search
    parts = [p for p in module.split(".") if p]
    for base in bases:
        found: list[Path] = []
        directory = base
        for i, part in enumerate(parts):
            package = directory / part / "__init__.py"
            single = directory / f"{part}.py"
            if package.is_file():
                found.append(package)
                directory = directory / part
            elif (directory / part).is_dir() and i < len(parts) - 1:  # a namespace package
                directory = directory / part
            elif single.is_file() and i == len(parts) - 1:
                found.append(single)
            else:
                break
        local = [p.resolve() for p in found if _inside(p.resolve(), root)]
        if local:
            return local
    return []


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents
