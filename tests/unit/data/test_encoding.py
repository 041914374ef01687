"""Strict decoding of dataset files (no Spark): which files hold undecodable bytes, and where."""

from __future__ import annotations

from pathlib import Path

import pytest

from nbpipe.core.config import DatasetConfig
from nbpipe.data import encoding
from nbpipe.data.encoding import codec, spark_options, undecodable_files
from nbpipe.errors import ConfigError


def test_clean_files_pass_and_bad_bytes_are_located(tmp_path: Path) -> None:
    clean = tmp_path / "clean.csv"
    clean.write_text("id,name\n1,José\n2,Zoë\n", encoding="utf-8")
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"id,name\n1,ok\n" + "2,José\n3,Zoë\n".encode("latin-1"))
    (found,) = undecodable_files([clean, bad], "utf-8")
    assert (found.path, found.line, found.offset, found.lines) == (bad, 3, 18, 2)
    assert found.describe() == f"{bad} line 3 (byte 18) is not valid utf-8 (2 line(s) in all)"
    assert undecodable_files([bad], "iso8859-1") == []


def test_a_character_split_across_read_chunks_is_not_undecodable(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(encoding, "_CHUNK", 3)
    path = tmp_path / "a.csv"
    path.write_text("ab€cd€\n", encoding="utf-8")  # € is 3 bytes: every chunk boundary splits one
    assert undecodable_files([path], "utf-8") == []


def test_codec_checks_names_formats_and_contradictions() -> None:
    assert codec("raw", DatasetConfig(format="csv")) == "utf-8"
    assert codec("raw", DatasetConfig(format="csv", encoding="latin-1")) == "iso8859-1"
    assert codec("raw", DatasetConfig(format="csv", options={"charset": "ISO-8859-1"})) == "iso8859-1"
    with pytest.raises(ConfigError, match=r"datasets\.raw\.encoding: unknown encoding 'klingon'"):
        codec("raw", DatasetConfig(format="csv", encoding="klingon"))
    with pytest.raises(ConfigError, match="parquet datasets have no text encoding"):
        codec("raw", DatasetConfig(format="parquet", encoding="latin-1"))
    with pytest.raises(ConfigError, match="disagree"):
        codec("raw", DatasetConfig(format="csv", encoding="utf-8", options={"encoding": "latin1"}))
    with pytest.raises(ConfigError, match="Spark reads CSV and JSON files in"):
        codec("raw", DatasetConfig(format="json", encoding="cp1252"))
    assert spark_options(DatasetConfig(format="json"), "iso8859-1") == {"encoding": "ISO-8859-1", "lineSep": "\n"}
    assert spark_options(DatasetConfig(format="csv"), "utf-8") == {"encoding": "UTF-8"}
