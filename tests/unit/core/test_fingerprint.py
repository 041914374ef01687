"""Unit tests of the run fingerprints in nbpipe.core.fingerprint."""

from __future__ import annotations

import copy
import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from nbpipe.core import fingerprint as fp


def notebook(*cells: dict) -> dict:
    return {"cells": list(cells), "metadata": {"kernelspec": {"name": "python3"}}, "nbformat": 4}


def code(source: str | list[str], *, tags: list[str] | None = None) -> dict:
    return {
        "cell_type": "code",
        "source": source,
        "metadata": {"tags": tags or []},
        "outputs": [],
        "execution_count": None,
    }


NB = notebook(
    code("run_date = '2013-01-01'", tags=["parameters"]),
    {"cell_type": "markdown", "source": "# Title", "metadata": {}},
    code(["import nbpipe\n", "ctx = nbpipe.context()"]),
)


def test_fingerprint_format_and_stability() -> None:
    value = fp.notebook_fingerprint(NB)
    assert value.startswith("sha256:") and len(value) == len("sha256:") + 64
    assert fp.notebook_fingerprint(copy.deepcopy(NB)) == value


def test_outputs_metadata_markdown_and_injected_cell_do_not_count() -> None:
    base = fp.notebook_fingerprint(NB)
    executed = copy.deepcopy(NB)
    executed["cells"][2]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "hi"}]
    executed["cells"][2]["execution_count"] = 7
    executed["cells"][2]["metadata"]["papermill"] = {"duration": 1.2}
    executed["metadata"]["papermill"] = {"parameters": {"run_date": "2013-01-02"}}
    executed["cells"][1]["source"] = "# Another title"
    executed["cells"].insert(1, code("run_date = '2013-01-02'\n", tags=["injected-parameters"]))
    assert fp.notebook_fingerprint(executed) == base


def test_whitespace_noise_does_not_count_but_code_does() -> None:
    base = fp.notebook_fingerprint(NB)
    crlf = copy.deepcopy(NB)
    crlf["cells"][2]["source"] = "import nbpipe   \r\nctx = nbpipe.context()\r\n"
    assert fp.notebook_fingerprint(crlf) == base
    edited = copy.deepcopy(NB)
    edited["cells"][2]["source"] = "import nbpipe\nctx = nbpipe.context(profile='x')"
    assert fp.notebook_fingerprint(edited) != base
    default_changed = copy.deepcopy(NB)
    default_changed["cells"][0]["source"] = "run_date = '2014-01-01'"
    assert fp.notebook_fingerprint(default_changed) != base
    reordered = copy.deepcopy(NB)
    reordered["cells"] = [NB["cells"][2], NB["cells"][1], NB["cells"][0]]
    assert fp.notebook_fingerprint(reordered) != base


def test_params_are_canonical() -> None:
    a = fp.params_fingerprint({"run_date": dt.date(2013, 1, 1), "n": 1, "tags": ["x", "y"]})
    b = fp.params_fingerprint({"tags": ["x", "y"], "n": 1.0, "run_date": "2013-01-01"})
    assert a == b
    assert fp.params_fingerprint({"n": 2}) != fp.params_fingerprint({"n": 1})
    assert fp.params_fingerprint({"tags": ["y", "x"]}) != fp.params_fingerprint({"tags": ["x", "y"]})
    assert fp.params_fingerprint({"s": {1, 2}}) == fp.params_fingerprint({"s": {2, 1}})


def test_inputs_fingerprint_changes_with_positions_and_listing() -> None:
    pos = {"raw": {"kind": "files", "files": {"a.csv": {"size": 1, "mtime_ns": 5}}}}
    same = {"raw": {"files": {"a.csv": {"mtime_ns": 5, "size": 1}}, "kind": "files"}}
    assert fp.inputs_fingerprint(pos) == fp.inputs_fingerprint(same)
    touched = {"raw": {"kind": "files", "files": {"a.csv": {"size": 1, "mtime_ns": 6}}}}
    assert fp.inputs_fingerprint(touched) != fp.inputs_fingerprint(pos)
    assert fp.inputs_fingerprint(None) != fp.inputs_fingerprint({})


def test_run_fingerprint_combines_parts() -> None:
    base = fp.run_fingerprint(NB, {"run_date": "2013-01-01"}, {"raw": {}})
    assert base == fp.run_fingerprint(copy.deepcopy(NB), {"run_date": "2013-01-01"}, {"raw": {}})
    assert base != fp.run_fingerprint(NB, {"run_date": "2013-01-02"}, {"raw": {}})
    assert base != fp.run_fingerprint(NB, {"run_date": "2013-01-01"}, {"raw": {"x": 1}})
    assert base != fp.run_fingerprint(NB, {"run_date": "2013-01-01"}, {"raw": {}}, extra={"nbpipe": "0.2"})
    parts = fp.fingerprint_parts(NB, {}, None, extra={"v": 1})
    assert set(parts) == {"notebook", "params", "inputs", "extra"}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=4), kids, max_size=3),
    max_leaves=10,
)


@given(st.dictionaries(st.text(max_size=6), json_values, max_size=5))
def test_params_fingerprint_ignores_key_order(params: dict) -> None:
    reversed_params = dict(reversed(list(params.items())))
    assert fp.params_fingerprint(params) == fp.params_fingerprint(reversed_params)
