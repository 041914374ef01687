"""Hostile source files on real Spark: wrong encodings, byte-order marks, empty drops, symbolic links."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from nbpipe.core import events
from nbpipe.data import strict
from nbpipe.data.read import read_dataset
from nbpipe.errors import BadRowsError, ConfigError, DatasetError
from tests.support.projects import ProjectForTest

pytestmark = pytest.mark.spark

CONTRACT = [{"name": "id", "type": "int", "nullable": False}, {"name": "name", "type": "string"}]
RAW = {"path": "landing/raw", "format": "csv", "options": {"header": "true"}}
RAWJ = {"path": "landing/rawj", "format": "json"}
MakeProject = Callable[..., ProjectForTest]


@pytest.fixture
def proj(tmp_path: Path, spark: Any) -> MakeProject:
    """``proj(raw={...overrides})``: datasets ``raw`` (CSV) and ``rawj`` (JSON lines), both with a contract."""

    def make(**overrides: dict[str, Any]) -> ProjectForTest:
        datasets = {"raw": {**RAW, **overrides.get("raw", {})}, "rawj": {**RAWJ, **overrides.get("rawj", {})}}
        p = ProjectForTest(tmp_path / "p", spark=spark, project="t", datasets=datasets)
        p.contract("raw", CONTRACT)
        p.contract("rawj", CONTRACT)
        return p

    return make


def land(p: ProjectForTest, dataset: str, rel: str, data: bytes) -> Path:
    path = p.project.path(p.project.dataset(dataset).path or dataset) / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def rejected(p: ProjectForTest, ctx: Any, dataset: str) -> list[Any]:
    return p.spark.read.parquet(str(ctx.staging_dir / f"{dataset}__rejected")).orderBy("_nbpipe_raw").collect()


# --------------------------------------------------------------------------- encodings


@pytest.mark.parametrize("path", ["counted first", "one pass"])
def test_latin1_bytes_in_a_utf8_csv_are_quarantined_never_replaced(
    proj: MakeProject, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if path == "one pass":
        monkeypatch.setattr(strict, "SMALL_SOURCE_BYTES", -1)
    p = proj()
    land(p, "raw", "a.csv", "id,name\n1,José\n2,Ann\n3,Zoë\n".encode("latin-1"))
    land(p, "raw", "b.csv", "id,name\n4,Ünal\n".encode())
    ctx = p.scope()
    df = read_dataset(ctx, "raw")
    assert sorted(tuple(r) for r in df.collect()) == [(2, "Ann"), (4, "Ünal")]
    (read,) = ctx.events(events.DATASET_READ)
    assert (read["rows"], read["accepted_rows"], read["rejected_rows"]) == (4, 2, 2)
    bad = rejected(p, ctx, "raw")
    assert [r["id"] for r in bad] == ["1", "3"]
    assert {r["_nbpipe_reason"] for r in bad} == {"undecodable bytes: not valid utf-8 (datasets.raw.encoding)"}
    assert all(r["_nbpipe_source"].endswith("a.csv") for r in bad)
    (warning,) = [e for e in ctx.events(events.LOG) if "not valid utf-8" in e["message"]]
    assert "a.csv line 2 (byte 13)" in warning["message"] and "2 line(s)" in warning["message"]


def test_latin1_json_rows_are_quarantined_as_undecodable(proj: MakeProject) -> None:
    p = proj()
    land(p, "rawj", "a.json", '{"id": 1, "name": "José"}\n{"id": 2, "name": "Ann"}\n'.encode("latin-1"))
    ctx = p.scope()
    assert [tuple(r) for r in read_dataset(ctx, "rawj").collect()] == [(2, "Ann")]
    (bad,) = rejected(p, ctx, "rawj")
    assert bad["_nbpipe_reason"] == "undecodable bytes: not valid utf-8 (datasets.rawj.encoding)"
    assert bad["_nbpipe_raw"] == '{"id": 1, "name": "Jos\ufffd"}', "stored as valid text, the byte marked"
    (part,) = (ctx.staging_dir / "rawj__rejected").rglob("*.parquet")
    assert pq.read_table(part).column("_nbpipe_raw").to_pylist() == [bad["_nbpipe_raw"]]


def test_undecodable_bytes_with_on_bad_rows_fail_name_file_line_and_fix(proj: MakeProject) -> None:
    p = proj(raw={"on_bad_rows": "fail"})
    path = land(p, "raw", "a.csv", "id,name\n2,Ann\n1,José\n".encode("latin-1"))
    ctx = p.scope()
    with pytest.raises(BadRowsError) as info:
        read_dataset(ctx, "raw")
    assert f"{path} line 3 (byte 19) is not valid utf-8" in info.value.message
    assert "datasets.raw.encoding" in (info.value.hint or "") and info.value.exit_code == 8
    assert not ctx.staging_dir.exists(), "nothing staged"


def test_declared_encoding_reads_latin1_exactly(proj: MakeProject) -> None:
    p = proj(raw={"encoding": "latin-1"}, rawj={"encoding": "latin-1"})
    land(p, "raw", "a.csv", "id,name\n1,Ça\n2,Zoë\n".encode("latin-1"))
    land(p, "rawj", "a.json", '{"id": 1, "name": "José"}\n'.encode("latin-1"))
    for mode in ("prod", "explore"):
        assert sorted(tuple(r)[:2] for r in read_dataset(p.scope(f"r-{mode}", mode=mode), "raw").collect()) == [
            (1, "Ça"), (2, "Zoë")]
        assert [tuple(r)[:2] for r in read_dataset(p.scope(f"j-{mode}", mode=mode), "rawj").collect()] == [
            (1, "José")]


def test_explore_read_warns_about_undecodable_bytes(proj: MakeProject) -> None:
    p = proj()
    land(p, "raw", "a.csv", "id,name\n1,José\n".encode("latin-1"))
    ctx = p.scope(mode="explore")
    read_dataset(ctx, "raw")
    assert any("not valid utf-8" in e["message"] and "a.csv line 2" in e["message"] for e in ctx.events(events.LOG))


def test_unknown_or_contradicting_encodings_are_config_errors(proj: MakeProject) -> None:
    p = proj(raw={"encoding": "klingon"})
    land(p, "raw", "a.csv", b"id,name\n1,a\n")
    with pytest.raises(ConfigError, match=r"datasets\.raw\.encoding: unknown encoding 'klingon'"):
        read_dataset(p.scope(), "raw")
    p = proj(raw={"encoding": "utf-8", "options": {"header": "true", "encoding": "latin1"}})
    with pytest.raises(ConfigError, match=r"options\.encoding 'latin1' and encoding 'utf-8' disagree"):
        read_dataset(p.scope("r2"), "raw")
    p = proj(rawj={"encoding": "cp1252"})
    land(p, "rawj", "a.json", b'{"id": 1}\n')
    with pytest.raises(ConfigError, match="Spark reads CSV and JSON files in utf-8, iso-8859-1, "):
        read_dataset(p.scope("r3"), "rawj")


# --------------------------------------------------------------------------- BOM and empty drops


def test_utf8_bom_in_a_csv_header_is_not_part_of_the_first_column(proj: MakeProject) -> None:
    p = proj()
    land(p, "raw", "a.csv", "\ufeffid,name\n1,José\n".encode())
    land(p, "raw", "b.csv", b"id,name\n2,Ann\n")
    for mode in ("prod", "explore"):
        df = read_dataset(p.scope(mode, mode=mode), "raw")
        assert df.columns[:2] == ["id", "name"]
        assert sorted(tuple(r)[:2] for r in df.collect()) == [(1, "José"), (2, "Ann")]


@pytest.mark.parametrize("mode", ["prod", "explore"])
def test_empty_and_blank_csv_files_hold_no_rows(proj: MakeProject, mode: str) -> None:
    p = proj()
    land(p, "raw", "empty.csv", b"")
    land(p, "raw", "blank.csv", b"\n\n")
    land(p, "raw", "bom.csv", "\ufeff\r\n".encode())
    ctx = p.scope(mode=mode)
    df = read_dataset(ctx, "raw")
    assert df.columns == ["id", "name"] and df.collect() == []
    land(p, "raw", "a.csv", b"id,name\n1,a\n")
    df = read_dataset(p.scope("r2", mode=mode), "raw")
    assert [tuple(r)[:2] for r in df.collect()] == [(1, "a")]


# --------------------------------------------------------------------------- symbolic links


def test_symlink_under_a_dataset_root_is_refused_unless_allowed(proj: MakeProject, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.csv").write_text("id,name\n7,secret\n")
    p = proj()
    land(p, "raw", "a.csv", b"id,name\n1,a\n")
    link = p.project.path("landing/raw/x.csv")
    os.symlink(outside / "secret.csv", link)
    for mode in ("prod", "explore"):
        with pytest.raises(DatasetError) as info:
            read_dataset(p.scope(mode, mode=mode), "raw")
        assert f"{link} is a symbolic link (to {outside / 'secret.csv'})" in info.value.message
        assert "datasets.raw.follow_symlinks: true" in (info.value.hint or "")
    with pytest.raises(DatasetError, match="is a symbolic link"):
        read_dataset(p.scope("paths"), "raw", paths=["landing/raw/x.csv"])
    link.unlink()
    os.symlink(outside, p.project.path("landing/raw/more"))  # a directory link: refused as well
    with pytest.raises(DatasetError, match="more is a symbolic link"):
        read_dataset(p.scope("dir"), "raw")
    with pytest.raises(DatasetError, match="more is a symbolic link"):
        read_dataset(p.scope("dir-path"), "raw", paths=["landing/raw/more/secret.csv"])

    p = proj(raw={"follow_symlinks": True})
    df = read_dataset(p.scope("allowed"), "raw")
    assert sorted(tuple(r) for r in df.collect()) == [(1, "a"), (7, "secret")]
