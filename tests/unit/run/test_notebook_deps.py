"""What a notebook depends on, read from its code: project modules (transitively) and dataset/suite names."""

from __future__ import annotations

from pathlib import Path

from nbpipe.quality import suites
from nbpipe.run import uptodate
from nbpipe.run.notebook_deps import analyse


def tree(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_local_imports_are_followed_transitively_and_libraries_are_not(tmp_path: Path) -> None:
    root = tree(tmp_path / "p", {
        "notebooks/nb_helpers.py": "import json\nfrom shared import util\n",
        "shared/__init__.py": "from .base import Base\n",
        "shared/base.py": "from . import consts\nimport os\n",
        "shared/consts.py": "X = 1\n",
        "shared/util.py": "from .. import missing  # no such module: nothing to hash\n",
        "ns/deep/mod.py": "import pandas\n",
        "unused.py": "",
    })
    cells = [
        "%matplotlib inline\nimport os, sys\nimport numpy as np",
        "!echo hi\nimport nb_helpers\nfrom ns.deep import mod",
        "def f():\n    import shared.consts\n    return shared.consts.X",
    ]
    deps = analyse(cells, root / "notebooks", root)
    assert sorted(deps.modules) == ["notebooks/nb_helpers.py", "ns/deep/mod.py", "shared/__init__.py",
                                    "shared/base.py", "shared/consts.py", "shared/util.py"]
    assert deps.unparsed == []


def test_the_notebook_directory_shadows_the_project_root(tmp_path: Path) -> None:
    root = tree(tmp_path / "p", {"helpers.py": "", "nb/helpers.py": ""})
    assert sorted(analyse(["import helpers"], root / "nb", root).modules) == ["nb/helpers.py"]
    assert sorted(analyse(["import helpers"], root, root).modules) == ["helpers.py"]


def test_modules_outside_the_project_are_ignored(tmp_path: Path) -> None:
    outside = tree(tmp_path / "elsewhere", {"secretlib.py": "x = 1\n"})
    root = tree(tmp_path / "p", {})
    (root / "secretlib.py").symlink_to(outside / "secretlib.py")
    assert analyse(["import secretlib"], root, root).modules == {}


def test_cells_and_modules_that_do_not_parse_are_reported_and_still_hashed(tmp_path: Path) -> None:
    root = tree(tmp_path / "p", {"broken.py": "def (:\n"})
    deps = analyse(["import broken", "x = ("], root, root)
    assert list(deps.modules) == ["broken.py"]
    assert deps.unparsed == ["code cell 2", "broken.py"]


def test_dataset_and_suite_names_passed_as_literals_are_found() -> None:
    code = (
        "raw = ctx.read('landing')\nnew = ctx.incremental(name='events')\nctx.read(dynamic)\n"
        "res = ctx.check(raw, 'flights', dataset='landing_clean')\nctx.check(raw, suite='other')\n"
        "ctx.write(raw, 'clean')\nctx.write(df=raw, name='also')\n"
    )
    deps = analyse([code], Path("/nonexistent"), Path("/nonexistent"))
    assert deps.reads == {"landing", "events"}
    assert deps.writes == {"clean", "also", "landing_clean"}
    assert deps.suites == {"flights", "other"}


def test_the_runner_looks_for_suites_where_the_quality_package_keeps_them(tmp_path: Path) -> None:
    assert uptodate.EXPECTATIONS_DIR == suites.EXPECTATIONS_DIR
    assert suites.suite_path(tmp_path, "x") == tmp_path / uptodate.EXPECTATIONS_DIR / "x.json"
