"""Canonical Parquet footers: each column chunk's encodings in ascending order, nothing else moved."""

from __future__ import annotations

import struct
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from nbpipe.data.parquet_footer import FooterError, canonical_footer, canonicalize


def _footer(path: Path) -> tuple[bytes, int]:
    data = path.read_bytes()
    length = struct.unpack("<I", data[-8:-4])[0]
    return data[-8 - length:-8], len(data) - 8 - length


@pytest.fixture
def parquet(tmp_path: Path) -> Path:
    path = tmp_path / "part-00000.parquet"
    table = pa.table({"id": [1, 2, None], "name": ["a", "b", "b"], "tags": [["x"], [], None]})
    pq.write_table(table, path, row_group_size=2)  # two row groups, a nested column
    return path


def test_encodings_in_another_order_are_sorted_back_in_place(parquet: Path) -> None:
    footer, start = _footer(parquet)
    canonical, spans = canonical_footer(footer)
    assert canonical == footer, "pyarrow already writes them sorted"
    assert len(spans) == 2 * 3, "one list per column chunk: 2 row groups x 3 leaf columns"
    assert all(end - begin >= 2 for begin, end in spans)
    # Shuffle every list the way a JVM's HashSet order does (reversed here), in the file itself.
    scrambled = bytearray(footer)
    for begin, end in spans:
        scrambled[begin:end] = bytes(reversed(footer[begin:end]))  # single-byte varints: elements reversed
    data = bytearray(parquet.read_bytes())
    data[start:start + len(footer)] = scrambled
    parquet.write_bytes(bytes(data))
    assert bytes(scrambled) != footer and pq.read_table(parquet).num_rows == 3, "readers ignore the order"
    assert canonicalize(parquet) is True
    assert _footer(parquet)[0] == footer and canonicalize(parquet) is False
    assert pq.read_table(parquet).to_pylist() == [{"id": 1, "name": "a", "tags": ["x"]},
                                                  {"id": 2, "name": "b", "tags": []},
                                                  {"id": None, "name": "b", "tags": None}]


def test_not_parquet_or_a_broken_footer_is_refused(tmp_path: Path, parquet: Path) -> None:
    other = tmp_path / "notes.parquet"
    other.write_bytes(b"just some text, not parquet")
    with pytest.raises(FooterError, match="Parquet magic"):
        canonicalize(other)
    footer, _ = _footer(parquet)
    with pytest.raises(FooterError, match="truncated"):
        canonical_footer(footer[: len(footer) // 2])
