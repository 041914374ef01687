"""``nbpipe init``: lay out a new project with a config, an example notebook and the folders.

Never overwrites: existing files are kept and reported.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from nbpipe.core.config import NAME_RE
from nbpipe.errors import ConfigError

CONFIG = """\
# nbpipe project configuration — see the README's configuration reference.
project: {name}

profiles:
  dev:
    spark: {{master: "local[2]", conf: {{spark.sql.shuffle.partitions: "4"}}}}
    warehouse: warehouse
    store: sqlite:///runs/nbpipe.db

datasets: {{}}

pipelines:
  hello:
    notebook: notebooks/hello.ipynb
    params: {{run_date: {{type: date}}}}

secrets: {{param_patterns: ["*password*", "*token*", "*secret*", "*_key"]}}
"""

GITIGNORE = ".venv/\n/data/\n/warehouse/\n/runs/*\n!/runs/README.md\n.ipynb_checkpoints/\n"


def _hello() -> nbformat.NotebookNode:
    nb = new_notebook(
        cells=[
            new_markdown_cell("# hello\n\nA first pipeline: `nbpipe run hello -p run_date=2024-01-31`."),
            new_code_cell('run_date = "2024-01-01"', metadata={"tags": ["parameters"]}),
            new_code_cell("import nbpipe\n\nctx = nbpipe.context()\nctx"),
            new_code_cell('ctx.metric("days_in_month", int(run_date[8:10]))\nprint("hello from", run_date)'),
        ],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    )
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"hello-{i}"
    return nb


def init_project(root: Path, name: str | None = None) -> tuple[list[Path], list[Path]]:
    """Create the project files under ``root``; return (created, kept) paths."""
    root = Path(root)
    name = name or root.resolve().name.replace("-", "_")
    if not NAME_RE.match(name):
        raise ConfigError(f"project name {name!r} is not allowed", hint="pass --name with letters, digits and '_'")
    created: list[Path] = []
    kept: list[Path] = []
    for folder in ("notebooks", "contracts", "expectations", "runs"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    files = {
        root / "nbpipe.yaml": CONFIG.format(name=name),
        root / ".gitignore": GITIGNORE,
        root / "runs" / "README.md": "Run records and the run-history database (git-ignored).\n",
    }
    for path, text in files.items():
        if path.exists():
            kept.append(path)
        else:
            path.write_text(text, encoding="utf-8")
            created.append(path)
    hello = root / "notebooks" / "hello.ipynb"
    if hello.exists():
        kept.append(hello)
    else:
        nbformat.write(_hello(), hello)
        created.append(hello)
    return created, kept
