"""Governance keys (owner, description, tags, pii): validated in contracts and nbpipe.yaml, kept by promote."""

from __future__ import annotations

from pathlib import Path

import pytest

from nbpipe.core.contracts import Column, Contract, load_contract, save_contract
from nbpipe.errors import ConfigError
from tests.support.projects import load

WRITTEN = Contract(
    dataset="report", version="1.0", owner="stats team", tags=("finance", "daily"),
    description="One row per day; <b>reviewed</b> by finance",
    columns=(Column(name="day", type="date", description="UTC day", tags=("time",)),
             Column(name="email", type="string", pii=True, description="who asked")),
)  # fmt: skip


def test_governance_keys_round_trip_through_the_contract_file(tmp_path: Path) -> None:
    path = save_contract(WRITTEN, tmp_path / "report.yaml")
    text = path.read_text()
    assert "owner: stats team" in text and "pii: true" in text and "- finance" in text
    assert "pii: false" not in text  # unset keys stay out of the file
    assert load_contract(path) == WRITTEN


@pytest.mark.parametrize(
    ("yaml_text", "where", "key", "allowed"),
    [
        ("dataset: d\ncolumns:\n- {name: a, type: int, pi: true}\n", "columns.0.pi", "'pi' (did you mean 'pii'?)",
         "name, type, nullable, description, tags, pii"),
        ("dataset: d\nowners: me\ncolumns: []\n", "owners", "'owners' (did you mean 'owner'?)",
         "dataset, version, description, owner, tags, columns, partition_by, primary_key"),
    ],
)
def test_an_unknown_governance_key_names_the_key_and_the_allowed_keys(
        tmp_path: Path, yaml_text: str, where: str, key: str, allowed: str) -> None:
    path = tmp_path / "d.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError) as info:
        load_contract(path)
    assert f"{where}: unknown key {key}; allowed keys: {allowed}" in info.value.message
    assert info.value.exit_code == 2


def test_dataset_config_takes_owner_tags_and_pii(tmp_path: Path) -> None:
    project = load(tmp_path, datasets={"d": {"owner": "me", "tags": ["a", "b"], "pii": True}})
    cfg = project.config.datasets["d"]
    assert (cfg.owner, cfg.tags, cfg.pii) == ("me", ["a", "b"], True)
    with pytest.raises(ConfigError, match=r"datasets\.d\.tag: unknown key \(did you mean 'tags'\?\); allowed: .*pii"):
        load(tmp_path, datasets={"d": {"tag": ["a"]}})


def test_promote_keeps_what_a_person_wrote_across_a_re_promote(tmp_path: Path) -> None:
    """A re-promote that adds a column (minor bump) keeps the owner, description, tags and each kept
    column's description, tags and pii flag; the new column starts blank."""
    from nbpipe.promote.lint import LintReport
    from nbpipe.promote.model import Observed, PromoteResult
    from nbpipe.promote.propose import observe

    project = load(tmp_path, datasets={"report": {"format": "parquet", "owner": "config owner"}})
    save_contract(WRITTEN, tmp_path / "contracts" / "report.yaml")
    schema = [{"name": "day", "type": "date", "nullable": True}, {"name": "email", "type": "string"},
              {"name": "n", "type": "bigint", "nullable": True}]
    result = PromoteResult("p", "p.ipynb", "r1", False, tmp_path, LintReport("p.ipynb"))
    (change,), _ = observe(project, "p", [Observed("report", "write", schema, str(tmp_path / "x"), 0)], result)
    assert change.status == "updated" and change.new is not None
    save_contract(change.new, change.path)
    kept = load_contract(tmp_path / "contracts" / "report.yaml")
    assert kept.version == "1.1"
    assert (kept.owner, kept.tags, kept.description) == (WRITTEN.owner, WRITTEN.tags, WRITTEN.description)
    assert kept.columns[:2] == WRITTEN.columns
    assert kept.columns[2] == Column(name="n", type="bigint")


def test_a_first_promote_takes_governance_from_nbpipe_yaml(tmp_path: Path) -> None:
    from nbpipe.promote.propose import propose_contract

    project = load(tmp_path, datasets={"report": {"owner": "ops", "tags": ["x"], "description": "About"}})
    new = propose_contract("report", [{"name": "a", "type": "int"}], old=None,
                           cfg=project.config.datasets["report"], nulls=None)
    assert (new.owner, new.tags, new.description) == ("ops", ("x",), "About")
