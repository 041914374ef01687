"""The kernel's own output is masked on its way to disk, while the run is still going.

A cell writes a secret to file descriptor 2 (the kernel process's stderr, not the notebook: ipykernel
does not forward fd-level output under pytest), then looks at every file under ``runs/`` itself:
mid-run, nothing holds the secret in clear and the masked line is already there. Once with a kernel
the run starts, once with a kernel started ahead (its log lives in ``runs/.kernels`` until the run ends).
"""

from __future__ import annotations

import json
import os

import nbformat

SECRET = "tok<&>\"'-5e6f7a8b-SECRET"
MARK = "5e6f7a8b"

CELL = """\
import os, pathlib, time
os.write(2, ('fd2 ' + api_token + '\\n').encode())
time.sleep(1.5)
runs = pathlib.Path(os.environ['NBPIPE_RUN_DIR']).parents[1]
texts = [p.read_bytes().decode('utf-8', 'replace') for p in runs.rglob('*') if p.is_file()]
masked = 'fd2 ' + '*' * 3  # not spelled out: this cell's source is in output.ipynb too
print('IN_CLEAR', any(api_token in t for t in texts), 'MASKED_LINE', any(masked in t for t in texts))
"""


def write_notebook(root, name: str) -> None:
    book = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell('api_token = ""', metadata={"tags": ["parameters"]}),
               nbformat.v4.new_code_cell(CELL)],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    )
    for i, cell in enumerate(book.cells):
        cell["id"] = f"cell-{i}"
    nbformat.write(book, root / f"{name}.ipynb")


def printed(run_dir) -> str:
    nb = json.loads((run_dir / "output.ipynb").read_text())
    return "".join("".join(o.get("text", "")) for c in nb["cells"] for o in c.get("outputs", []))


def test_kernel_output_is_masked_before_it_is_written_with_and_without_a_kernel_started_ahead(
    make_project, runner_for, monkeypatch
):
    root = make_project(pipelines={"leaky": {}})
    write_notebook(root, "leaky")
    monkeypatch.setenv("LEAKY_TOKEN", SECRET)
    runner = runner_for(root, prestart_kernels=True)
    results = [runner.run("leaky", {"api_token": "env:LEAKY_TOKEN"}, from_cli=frozenset({"api_token"}))
               for _ in range(2)]
    assert runner._pool is not None and runner._pool.taken == 1, "the second run used the kernel started ahead"
    runner.close()
    for result in results:
        assert result.status == "succeeded", result.error
        assert "IN_CLEAR False MASKED_LINE True" in printed(result.run_dir)
        assert "fd2 ***" in (result.run_dir / "kernel.log").read_text()
    for path in root.rglob("*"):
        if path.is_file():
            assert MARK.encode() not in path.read_bytes(), f"secret in {path.relative_to(root)}"
    assert os.environ["LEAKY_TOKEN"] == SECRET
