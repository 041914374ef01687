"""Unit tests for nbpipe.core.contracts: parsing, stable YAML, diffs and version bumps (no Spark)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nbpipe.core.contracts import (
    Contract,
    check_schema,
    contract_from_schema,
    contract_path,
    diff_contracts,
    dump_contract,
    find_contract,
    is_widening,
    load_contract,
    next_version,
    normalize_type,
    save_contract,
)
from nbpipe.errors import ConfigError, DatasetError
from tests.support.projects import load


def _contract(**kw: object) -> Contract:
    base = {
        "dataset": "flights",
        "version": "1.2",
        "columns": [
            {"name": "flight_date", "type": "date", "nullable": False},
            {"name": "carrier", "type": "string", "nullable": False},
            {"name": "dep_delay", "type": "int"},
            {"name": "fare", "type": "decimal(10,2)"},
        ],
        "partition_by": ["flight_date"],
        "primary_key": [],
    }
    base.update(kw)
    return Contract.model_validate(base)


def test_types_are_normalized_to_spark_simple_strings() -> None:
    assert normalize_type("Integer") == "int"
    assert normalize_type("long") == "bigint"
    assert normalize_type("DECIMAL( 10 , 2 )") == "decimal(10,2)"
    assert normalize_type("array<string>") == "array<string>"
    with pytest.raises(ValueError, match="unknown type 'strnig'"):
        normalize_type("strnig")
    with pytest.raises(ValueError, match=r"decimal\(5,7\)"):
        normalize_type("decimal(5,7)")


def test_widening_rules() -> None:
    assert is_widening("int", "bigint")
    assert is_widening("float", "double")
    assert is_widening("decimal(5,2)", "decimal(10,2)")
    assert is_widening("int", "decimal(12,2)")
    assert not is_widening("bigint", "int")
    assert not is_widening("bigint", "double")
    assert not is_widening("decimal(10,2)", "decimal(10,3)")
    assert not is_widening("string", "int")


def test_invalid_contract_file_names_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "flights.yaml"
    bad.write_text("dataset: flights\nversion: '1'\ncolumns:\n  - {name: a, type: strnig}\n")
    with pytest.raises(ConfigError) as exc:
        load_contract(bad)
    assert str(bad) in str(exc.value)
    assert "version" in str(exc.value) and "MAJOR.MINOR" in str(exc.value)
    assert "columns.0.type" in str(exc.value) and "strnig" in str(exc.value)


def test_unknown_partition_column_and_duplicates_refused() -> None:
    with pytest.raises(ValueError, match="partition_by names unknown column"):
        _contract(partition_by=["day"])
    with pytest.raises(ValueError, match="duplicate column"):
        _contract(columns=[{"name": "a", "type": "int"}, {"name": "a", "type": "int"}], partition_by=[])


def test_missing_contract_file_says_how_to_create_it(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="nbpipe promote"):
        load_contract(tmp_path / "nope.yaml")


def test_save_is_stable_and_round_trips(tmp_path: Path) -> None:
    c = _contract(description="NYC flights")
    path = save_contract(c, tmp_path / "contracts" / "flights.yaml")
    first = path.read_bytes()
    assert load_contract(path) == c
    save_contract(load_contract(path), path)
    assert path.read_bytes() == first
    text = first.decode()
    assert text.startswith("dataset: flights\nversion: '1.2'\n")
    assert text.index("columns:") < text.index("partition_by:") < text.index("primary_key:")
    assert not list(path.parent.glob(".*")), "no temp files left behind"


def test_contract_path_convention_and_setting(tmp_path: Path) -> None:
    project = load(tmp_path, datasets={
        "a": {"format": "parquet"},
        "b": {"format": "parquet", "contract": "schemas/b_v1.yaml"},
        "c": {"format": "parquet", "contract": "../../etc/c.yaml"},
    })
    assert contract_path(project, "a") == tmp_path / "contracts" / "a.yaml"
    assert contract_path(project, "b") == (tmp_path / "schemas" / "b_v1.yaml").resolve()
    with pytest.raises(DatasetError, match="escapes its root"):
        contract_path(project, "c")
    with pytest.raises(DatasetError, match="not allowed"):
        contract_path(project, "../x")
    assert find_contract(project, "a") is None
    save_contract(_contract(dataset="a"), contract_path(project, "a"))
    found = find_contract(project, "a")
    assert found is not None and found.dataset == "a"


def test_contract_from_schema_drops_internal_columns_and_forces_keys() -> None:
    fields = [
        {"name": "id", "type": "integer", "nullable": True},
        {"name": "carrier", "type": "string", "nullable": True},
        {"name": "_corrupt_record", "type": "string", "nullable": True},
        {"name": "_nbpipe_reason", "type": "string", "nullable": True},
    ]
    c = contract_from_schema("flights", fields, primary_key=["id"], non_null=["carrier"])
    assert c.fields() == [
        {"name": "id", "type": "int", "nullable": False},
        {"name": "carrier", "type": "string", "nullable": False},
    ]
    assert c.ddl() == "`id` int, `carrier` string"
    with pytest.raises(ConfigError, match="primary_key names unknown column"):
        contract_from_schema("flights", fields, primary_key=["nope"])


def test_diff_additive_change_bumps_minor() -> None:
    old = _contract()
    new = _contract(columns=[*old.fields(), {"name": "tailnum", "type": "string"}])
    diff = diff_contracts(old, new)
    assert [c.name for c in diff.added] == ["tailnum"]
    assert not diff.breaking and diff.changed
    assert diff.additive_changes == ["column tailnum (string, nullable) added"]
    assert next_version(old, diff) == "1.3"
    assert "+ tailnum: string" in diff.render() and "(additive)" in diff.render()


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"drop": "dep_delay"}, "column dep_delay (int) removed"),
        ({"retype": ("dep_delay", "string")}, "column dep_delay retyped int -> string"),
        ({"tighten": "dep_delay"}, "column dep_delay made non-null"),
        ({"add_non_null": "tailnum"}, "non-null column tailnum (string) added"),
        ({"partition": ["carrier"]}, "partitioning changed [flight_date] -> [carrier]"),
    ],
)
def test_diff_breaking_changes_bump_major(change: dict[str, object], needle: str) -> None:
    old = _contract()
    cols = [dict(f) for f in old.fields()]
    partition = list(old.partition_by)
    if "drop" in change:
        cols = [c for c in cols if c["name"] != change["drop"]]
    if "retype" in change:
        name, typ = change["retype"]  # type: ignore[misc]
        cols = [{**c, "type": typ} if c["name"] == name else c for c in cols]
    if "tighten" in change:
        cols = [{**c, "nullable": False} if c["name"] == change["tighten"] else c for c in cols]
    if "add_non_null" in change:
        cols.append({"name": change["add_non_null"], "type": "string", "nullable": False})
    if "partition" in change:
        partition = change["partition"]  # type: ignore[assignment]
    new = _contract(columns=cols, partition_by=partition)
    diff = diff_contracts(old, new)
    assert diff.breaking
    assert any(needle in text for text in diff.breaking_changes), diff.breaking_changes
    assert next_version(old, diff) == "2.0"
    assert "BREAKING" in diff.render() and needle in diff.render()


def test_widening_and_loosening_are_additive() -> None:
    old = _contract()
    cols = [dict(f) for f in old.fields()]
    cols[2]["type"] = "bigint"
    cols[1]["nullable"] = True
    diff = diff_contracts(old, _contract(columns=cols))
    assert not diff.breaking
    assert diff.loosened == ["carrier"]
    assert [(r.name, r.old, r.new) for r in diff.retyped] == [("dep_delay", "int", "bigint")]
    assert next_version("3.4", diff) == "3.5"
    assert diff.to_dict()["breaking"] is False


def test_check_schema_reports_missing_extra_retyped_and_castable() -> None:
    c = _contract()
    fields = [
        {"name": "flight_date", "type": "date"},
        {"name": "carrier", "type": "int"},
        {"name": "dep_delay", "type": "smallint"},
        {"name": "bonus", "type": "double"},
    ]
    check = check_schema(c, fields)
    assert not check.ok
    assert check.problems() == [
        "column fare: missing (contract expects decimal(10,2))",
        "column bonus: not in the contract (frame has double)",
        "column carrier: expected string, got int",
    ]
    assert [r.name for r in check.widened] == ["dep_delay"]


_names = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)
_types = st.sampled_from(["string", "int", "bigint", "double", "date", "timestamp", "decimal(10,2)", "boolean"])


@settings(max_examples=60, deadline=None)
@given(cols=st.dictionaries(_names, st.tuples(_types, st.booleans()), min_size=1, max_size=8),
       major=st.integers(0, 50), minor=st.integers(0, 50))
def test_property_round_trip_and_self_diff(tmp_path_factory: pytest.TempPathFactory,
                                           cols: dict[str, tuple[str, bool]], major: int, minor: int) -> None:
    fields = [{"name": n, "type": t, "nullable": nb} for n, (t, nb) in cols.items()]
    c = contract_from_schema("ds", fields, version=f"{major}.{minor}")
    text = dump_contract(c)
    path = tmp_path_factory.mktemp("c") / "ds.yaml"
    save_contract(c, path)
    assert load_contract(path) == c
    assert dump_contract(load_contract(path)) == text
    diff = diff_contracts(c, c)
    assert not diff.changed and next_version(c, diff) == c.version
    # Removing any column is always breaking and bumps the major version.
    if len(fields) > 1:
        smaller = contract_from_schema("ds", fields[1:], version=c.version)
        d = diff_contracts(c, smaller)
        assert d.breaking and next_version(c, d) == f"{major + 1}.0"
