"""``binder/``: the repo2docker files agree with ``pyproject.toml`` and the Java check, and postBuild works.

repo2docker (Binder) reads ``binder/runtime.txt`` (``python-X.Y``; without it the image gets
repo2docker's default Python, older than the one the project requires), ``apt.txt`` (Debian
packages, one a line), ``requirements.txt`` (installed with pip from the repository root) and runs
the executable ``postBuild`` last. The static checks tie each file to what it must agree with; the
last test runs ``postBuild`` on a copy of the example project, as Binder does.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import nbformat
import pytest
from nbformat.sign import NotebookNotary
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]
BINDER = REPO / "binder"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
CHECK_JAVA = (REPO / "scripts" / "check-java.sh").read_text(encoding="utf-8")
JRE = re.compile(r"^openjdk-(\d+)-jre(?:-headless)?$")


def lines(name: str) -> list[str]:
    """The entries of ``binder/<name>``: stripped lines, without blanks and ``#`` comments."""
    text = (BINDER / name).read_text(encoding="utf-8")
    return [s for s in (line.partition("#")[0].strip() for line in text.splitlines()) if s]


def java_minimum() -> int:
    """The lowest Java major ``scripts/check-java.sh`` accepts (its ``[ "$major" -lt N ]`` test)."""
    found = re.findall(r'"\$major"\s+-lt\s+(\d+)', CHECK_JAVA)
    assert len(found) == 1, f"scripts/check-java.sh should test the Java major once, found {found}"
    return int(found[0])


def test_runtime_pins_a_python_the_project_supports() -> None:
    runtime = lines("runtime.txt")
    assert len(runtime) == 1 and re.fullmatch(r"python-\d+\.\d+", runtime[0]), (
        f"binder/runtime.txt must hold one line 'python-X.Y' (repo2docker's format), got {runtime}"
    )
    pinned = runtime[0].removeprefix("python-")
    requires = SpecifierSet(PYPROJECT["project"]["requires-python"])
    assert Version(pinned) in requires, f"Binder's Python {pinned} is outside requires-python {requires}"
    assert pinned == PYPROJECT["tool"]["mypy"]["python_version"], (
        "Binder runs the Python version the project is type-checked for (tool.mypy.python_version)"
    )


def test_apt_installs_the_jre_that_check_java_requires() -> None:
    minimum = java_minimum()
    jres = [(p, int(m.group(1))) for p in lines("apt.txt") if (m := JRE.match(p))]
    assert len(jres) == 1, f"binder/apt.txt should install exactly one OpenJDK runtime, got {jres}"
    package, major = jres[0]
    assert major >= minimum, f"binder/apt.txt installs {package}, but Spark needs Java {minimum}+"
    assert f"apt-get install -y {package}" in CHECK_JAVA, (
        f"scripts/check-java.sh tells users to install another JRE than binder/apt.txt's {package}"
    )
    for name in lines("apt.txt"):
        assert re.fullmatch(r"[a-z0-9][a-z0-9.+-]+", name), f"binder/apt.txt: {name!r} is no Debian package name"


def test_requirements_install_this_checkout_with_existing_extras() -> None:
    entries = lines("requirements.txt")
    local = [e for e in entries if e.removeprefix("-e").strip().startswith(".")]
    assert len(local) == 1, f"binder/requirements.txt must install this checkout ('.' or '-e .'), got {entries}"
    extras = Requirement("nbpipe" + local[0].removeprefix("-e").strip().removeprefix(".")).extras
    declared = set(PYPROJECT["project"]["optional-dependencies"])
    assert extras <= declared, f"binder/requirements.txt names extras {sorted(extras - declared)} pyproject lacks"
    assert "demo" in extras, "the example notebooks and the sample data need the [demo] extra"


def test_postbuild_is_an_executable_strict_bash_script() -> None:
    post = BINDER / "postBuild"
    text = post.read_text(encoding="utf-8")
    assert post.stat().st_mode & stat.S_IXUSR, "repo2docker runs postBuild only when it is executable"
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in text, "a failing step must fail the Binder build, not leave a half-set-up image"
    assert re.search(r"^nbpipe demo --land-only\b", text, re.M), "postBuild lands the sample data"
    assert re.search(r"^jupyter trust notebooks/\*\.ipynb$", text, re.M), "postBuild trusts the example notebooks"
    syntax = subprocess.run(["bash", "-n", str(post)], capture_output=True, text=True, check=False)
    assert syntax.returncode == 0, syntax.stderr


@pytest.mark.slow
def test_postbuild_lands_the_data_and_trusts_the_notebooks(tmp_path: Path) -> None:
    """Run ``binder/postBuild`` on a copy of the example project, with this checkout's ``nbpipe``."""
    project = tmp_path / "repo"
    project.mkdir()
    for name in ("binder", "notebooks", "contracts", "expectations"):
        shutil.copytree(REPO / name, project / name)
    shutil.copy(REPO / "nbpipe.yaml", project / "nbpipe.yaml")
    notebooks = sorted((project / "notebooks").glob("*.ipynb"))
    assert notebooks, "the example project has notebooks"
    data_dir = tmp_path / "jupyter-data"  # where jupyter trust keeps its signature database
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")])),
        "JUPYTER_DATA_DIR": str(data_dir),
    }

    done = subprocess.run([str(project / "binder" / "postBuild")], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=600, check=False)

    assert done.returncode == 0, f"postBuild failed:\n{done.stdout}\n{done.stderr}"
    landed = sorted(p.name for p in (project / "data" / "landing" / "flights").iterdir())
    assert landed == [f"date=2013-01-0{d}" for d in range(1, 8)], landed
    notary = NotebookNotary(data_dir=str(data_dir))  # the key and database postBuild's jupyter trust wrote
    untrusted = [nb.name for nb in notebooks if not notary.check_signature(nbformat.read(nb, as_version=4))]
    assert not untrusted, f"postBuild left notebooks untrusted: {untrusted}"
