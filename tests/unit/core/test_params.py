"""Parameter typing, coercion and validation (pure; no kernel)."""

from __future__ import annotations

import pytest

from nbpipe.core.config import ParamSpec
from nbpipe.core.params import NotebookParam, build_definitions, infer_type, parse_cli_pairs, resolve
from nbpipe.errors import ParameterError

NB = [
    NotebookParam("run_date", '"2013-01-01"'),
    NotebookParam("limit", "10"),
    NotebookParam("ratio", "0.5"),
    NotebookParam("flag", "False"),
    NotebookParam("carriers", '["AA", "UA"]'),
    NotebookParam("opts", "{}"),
    NotebookParam("db_password", '""'),
    NotebookParam("computed", "len('abc')"),
]
PATTERNS = ["*password*", "*token*", "*secret*", "*_key"]


def defs(**specs: ParamSpec):
    return build_definitions(NB, specs, PATTERNS)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, "bool"),
        (3, "int"),
        (2.5, "float"),
        ("2013-01-01", "date"),
        ("2013-01-01T06:00:00", "datetime"),
        ("hello", "str"),
        ([1], "list"),
        ({"a": 1}, "dict"),
        ("2013-1-1", "str"),
    ],
)
def test_infer_type(value, expected):
    assert infer_type(value) == expected


def test_types_from_defaults_and_config_overlay():
    d = defs(limit=ParamSpec(type="float"))
    assert d["run_date"].type == "date"
    assert d["limit"].type == "float"
    assert d["flag"].type == "bool"
    assert d["computed"].type == "str" and not d["computed"].has_default
    assert d["db_password"].secret and not d["limit"].secret


def test_cli_strings_are_coerced():
    cli = {
        "run_date": "2013-02-03",
        "limit": "1_000",
        "ratio": "1e-3",
        "flag": "yes",
        "carriers": "AA,DL",
        "opts": '{"a": [1, 2]}',
    }
    r = resolve(defs(), cli, from_cli=frozenset(cli))
    assert r.values == {
        "run_date": "2013-02-03",
        "limit": 1000,
        "ratio": 0.001,
        "flag": True,
        "carriers": ["AA", "DL"],
        "opts": {"a": [1, 2]},
    }


def test_params_file_values_keep_their_types():
    import datetime as dt

    r = resolve(defs(), {"run_date": dt.date(2013, 1, 5), "limit": 3, "carriers": ["B6"]})
    assert r.values == {"run_date": "2013-01-05", "limit": 3, "carriers": ["B6"]}


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("limit", "ten", r"parameter 'limit': 'ten' is not a valid int"),
        ("limit", True, r"is not a valid int"),
        ("ratio", "half", r"'half' is not a valid float"),
        ("flag", "maybe", r"'maybe' is not a valid bool \(use true/false\)"),
        ("run_date", "2013-02-30", r"not a valid date \(expected YYYY-MM-DD\)"),
        ("opts", "[1]", r"is not a valid dict"),
    ],
)
def test_wrong_types_name_parameter_value_and_type(name, value, message):
    with pytest.raises(ParameterError, match=message) as info:
        resolve(defs(), {name: value}, from_cli=frozenset({name}))
    assert f"-p {name}=" in (info.value.hint or "")


def test_unknown_parameter_suggests_the_closest():
    with pytest.raises(ParameterError, match=r"unknown parameter 'run_dat' \(did you mean 'run_date'\?\)"):
        resolve(defs(), {"run_dat": "2013-01-01"})


def test_required_choices_and_bounds():
    d = defs(limit=ParamSpec(required=True, min=1, max=100), ratio=ParamSpec(choices=[0.5, 1.0]))
    with pytest.raises(ParameterError, match="parameter 'limit' is required"):
        resolve(d, {})
    with pytest.raises(ParameterError, match="above the maximum 100"):
        resolve(d, {"limit": "101"}, from_cli=frozenset({"limit"}))
    with pytest.raises(ParameterError, match="below the minimum 1"):
        resolve(d, {"limit": "0"}, from_cli=frozenset({"limit"}))
    with pytest.raises(ParameterError, match=r"is not one of \[0.5, 1.0\]"):
        resolve(d, {"limit": "5", "ratio": "0.7"}, from_cli=frozenset({"limit", "ratio"}))


def test_env_values_are_secret_and_never_echoed(monkeypatch):
    monkeypatch.setenv("MY_TOKEN", "s3cr3t-value")
    r = resolve(defs(), {"opts": "env:MY_TOKEN"}, environ={"MY_TOKEN": '{"k": 1}'})
    assert r.values["opts"] == {"k": 1} and "opts" in r.secret_names
    assert r.masked()["opts"] == "***"
    with pytest.raises(ParameterError, match="environment variable 'NOPE', which is not set"):
        resolve(defs(), {"limit": "env:NOPE"}, environ={})
    with pytest.raises(ParameterError) as info:  # a secret of the wrong type is not echoed
        resolve(
            build_definitions([NotebookParam("api_key", "0")], {}, PATTERNS),
            {"api_key": "hunter22"},
            from_cli=frozenset({"api_key"}),
        )
    assert "hunter22" not in str(info.value)


def test_injection_strings_are_just_strings():
    evil = "x'); import os; os.system('touch PWNED') #"
    r = resolve(defs(), {"db_password": evil, "carriers": '"""'}, from_cli=frozenset({"carriers"}))
    assert r.values["db_password"] == evil
    assert r.values["carriers"] == ['"""']


def test_cli_pairs():
    assert parse_cli_pairs(["a=1", "b=x=y", "c="]) == {"a": "1", "b": "x=y", "c": ""}
    with pytest.raises(ParameterError, match="NAME=VALUE"):
        parse_cli_pairs(["novalue"])
