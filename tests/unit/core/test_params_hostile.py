"""Parameter values and declarations that used to be misread, accepted or echoed (pure; no kernel)."""

from __future__ import annotations

import math

import pytest

from nbpipe.core.config import ParamSpec
from nbpipe.core.params import NotebookParam, build_definitions, load_params_file, resolve
from nbpipe.errors import ConfigError, ParameterError

NB = [NotebookParam("items", '["a"]'), NotebookParam("ratio", "0.5"), NotebookParam("limit", "10"),
      NotebookParam("region", '"eu"')]
PATTERNS = ["*password*"]


def defs(**specs: ParamSpec):
    return build_definitions(NB, specs, PATTERNS, pipeline="daily")


def cli(d, **values: str):
    return resolve(d, values, from_cli=frozenset(values)).values


@pytest.mark.parametrize(
    ("text", "expected"),
    [("a,b", ["a", "b"]), (" a , b ", ["a", "b"]), ('["x", 1]', ["x", 1]), ("[]", []), ("", []), ("solo", ["solo"])],
)
def test_a_list_is_a_json_list_or_comma_separated_items(text: str, expected: list) -> None:
    assert cli(defs(), items=text)["items"] == expected


@pytest.mark.parametrize("text", ["[1,", "[1, 2", "a,,b", "a,", ",a", '["a"] x'])
def test_a_list_that_is_neither_is_refused(text: str) -> None:
    with pytest.raises(ParameterError, match=r"parameter 'items': .* is not a valid list \(expected a JSON list"):
        cli(defs(), items=text)


def test_nan_is_refused_by_bounds_and_accepted_without() -> None:
    bounded = defs(ratio=ParamSpec(min=0, max=1))
    for text in ("nan", "NaN", "-nan"):
        with pytest.raises(ParameterError, match="is not a number, so it is not within its bounds") as info:
            cli(bounded, ratio=text)
        assert info.value.hint == "pass a value with 0.0 <= ratio <= 1.0"
    with pytest.raises(ParameterError, match=r"above the maximum 1\.0"):
        cli(bounded, ratio="inf")
    with pytest.raises(ParameterError, match="is not a number"):
        resolve(bounded, {"ratio": float("nan")})  # a params file's .nan
    assert math.isnan(cli(defs(), ratio="nan")["ratio"])


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (ParamSpec(min="abc"), r"pipelines\.daily\.params\.limit: 'min' 'abc' is not of type int"),
        (ParamSpec(max=[1]), r"'max' \[1\] is not of type int"),
        (ParamSpec(choices=["a", 2]), r"choice 'a' is not of type int"),
        (ParamSpec(min="20", max=10), r"'min' '20' is above 'max' 10"),
    ],
)
def test_declarations_that_do_not_fit_the_inferred_type_are_config_errors(spec: ParamSpec, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        defs(limit=spec)
    assert "type of its default in the notebook" in info.value.message
    assert info.value.hint is not None and "nbpipe.yaml" in info.value.hint


def test_bounds_and_choices_are_converted_to_the_parameter_type() -> None:
    d = defs(limit=ParamSpec(choices=["1", "2"]), ratio=ParamSpec(min="0", max=1))
    assert (d["limit"].choices, d["ratio"].min, d["ratio"].max) == ((1, 2), 0.0, 1.0)
    assert cli(d, limit="2")["limit"] == 2


def test_values_read_from_env_are_never_echoed() -> None:
    env = {"NBP_X": "s3cr3t-eu"}
    d = defs(limit=ParamSpec(min=0), region=ParamSpec(choices=["eu", "us"]))
    for name, var_value, message in (
        ("limit", "s3cr3t-eu", "parameter 'limit': *** is not a valid int"),
        ("limit", "-7", "parameter 'limit': *** is below the minimum 0"),
        ("region", "s3cr3t-eu", "parameter 'region': *** is not one of ['eu', 'us']"),
    ):
        with pytest.raises(ParameterError) as info:
            resolve(d, {name: "env:NBP_X"}, from_cli=frozenset({name}), environ={"NBP_X": var_value})
        assert info.value.message == message, "no value, and no did-you-mean that spells a near value"
        assert var_value not in str(info.value)
    assert env["NBP_X"] not in str(resolve(d, {"region": "us"}).values)


def test_a_params_file_error_says_where_but_not_what() -> None:
    with pytest.raises(ParameterError, match=r"p\.yaml is not valid YAML/JSON at line 3, column 1: expected") as info:
        load_params_file("limit: 3\ntoken: [unclosed, hunter22\n", "p.yaml")
    assert "hunter22" not in str(info.value)
    with pytest.raises(ParameterError, match="not a list"):
        load_params_file("- a\n", "p.yaml")


def test_the_recorded_retry_command_reads_the_variable_the_run_read() -> None:
    from nbpipe.core.params import ParamDef, resolve
    from nbpipe.core.records import retry_command

    defs = {"label": ParamDef("label", "str", "x", True), "token": ParamDef("token", "str", "", True, secret=True)}
    params = resolve(defs, {"label": "env:NBP_LABEL", "token": "t0ps3cret"}, environ={"NBP_LABEL": "s3cret"})
    assert params.env_variables == {"label": "NBP_LABEL"}
    command = retry_command("p", params.values, params.secret_names, "dev", env_variables=params.env_variables)
    assert command == "nbpipe run p -p label=env:NBP_LABEL -p token=env:TOKEN"
