"""Canonical Parquet footers: the same rows give the same bytes in every Spark process.

Spark's Parquet writer (parquet-java) lists each column chunk's ``encodings`` in the iteration
order of a ``HashSet`` of enum constants, and an enum's hash is its identity hash: the order, and
so the file's bytes, change from one JVM to the next (``PLAIN, RLE, BIT_PACKED`` in one process,
``RLE, PLAIN, BIT_PACKED`` in the next). The list is a set, so readers do not care about its order.

:func:`canonicalize` rewrites only those lists, in place and in ascending order, inside the
Thrift-encoded footer (``FileMetaData``, compact protocol). Reordering the elements of a list keeps
its length, so no offset in the file moves; nothing else is touched. Everything else Spark writes is
already deterministic for the same rows, schema, file name and Spark version (the footer records
``org.apache.spark.version`` and ``created_by``, so a Spark upgrade changes the bytes).
"""

from __future__ import annotations

import struct
from pathlib import Path

_MAGIC = b"PAR1"
# Thrift compact protocol type ids.
_TRUE, _FALSE, _BYTE, _I16, _I32, _I64, _DOUBLE, _BINARY, _LIST, _SET, _MAP, _STRUCT = range(1, 13)
# FileMetaData.row_groups(4) -> RowGroup.columns(1) -> ColumnChunk.meta_data(3) -> ColumnMetaData.encodings(2)
_ENCODINGS_PATH = (4, 1, 3, 2)


class FooterError(ValueError):
    """The bytes are not a Parquet footer this module understands."""


class _Reader:
    """Walks a compact-protocol struct and sorts the i32 lists found at ``_ENCODINGS_PATH``."""

    def __init__(self, buf: bytearray) -> None:
        self.buf = buf
        self.pos = 0
        self.spans: list[tuple[int, int]] = []  # where each encodings list's elements are

    def byte(self) -> int:
        if self.pos >= len(self.buf):
            raise FooterError("truncated footer")
        value = self.buf[self.pos]
        self.pos += 1
        return value

    def varint(self) -> int:
        shift = result = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7
            if shift > 70:
                raise FooterError("varint too long")

    def skip(self, kind: int, path: tuple[int, ...]) -> None:
        if kind in (_TRUE, _FALSE):
            return
        if kind == _BYTE:
            self.pos += 1
        elif kind in (_I16, _I32, _I64):
            self.varint()
        elif kind == _DOUBLE:
            self.pos += 8
        elif kind == _BINARY:
            length = self.varint()  # read first: ``self.pos += self.varint()`` would add to the old position
            self.pos += length
        elif kind in (_LIST, _SET):
            self.sequence(path)
        elif kind == _MAP:
            size = self.varint()
            if size:
                types = self.byte()
                for _ in range(size):
                    self.skip(types >> 4, ())
                    self.skip(types & 0x0F, ())
        elif kind == _STRUCT:
            self.struct(path)
        else:
            raise FooterError(f"unknown thrift type {kind}")
        if self.pos > len(self.buf):
            raise FooterError("truncated footer")

    def sequence(self, path: tuple[int, ...]) -> None:
        header = self.byte()
        size, kind = header >> 4, header & 0x0F
        if size == 15:
            size = self.varint()
        if path == _ENCODINGS_PATH and kind == _I32:
            items = []
            start = self.pos
            for _ in range(size):
                begin = self.pos
                value = self.varint()
                items.append((value, bytes(self.buf[begin:self.pos])))
            self.buf[start:self.pos] = b"".join(raw for _, raw in sorted(items))
            self.spans.append((start, self.pos))
            return
        for _ in range(size):
            if kind in (_TRUE, _FALSE):
                self.pos += 1  # booleans in a list take a byte each
            else:
                self.skip(kind, path)  # list elements keep the path: row_groups[i] is still field 4's value

    def struct(self, path: tuple[int, ...]) -> None:
        field = 0
        while True:
            header = self.byte()
            if header == 0:
                return
            delta, kind = header >> 4, header & 0x0F
            if delta:
                field += delta
            else:
                raw = self.varint()
                field = (raw >> 1) ^ -(raw & 1)
            child = (*path, field)
            on_the_way = _ENCODINGS_PATH[: len(child)] == child
            self.skip(kind, child if on_the_way else (-1,))  # (-1,) matches nothing below it


def canonical_footer(footer: bytes) -> tuple[bytes, list[tuple[int, int]]]:
    """The footer with every column chunk's ``encodings`` sorted, and where those lists are.

    Raises:
        FooterError: the bytes are not a Thrift-compact ``FileMetaData``.
    """
    reader = _Reader(bytearray(footer))
    reader.struct(())
    if reader.pos != len(footer):
        raise FooterError("footer has trailing bytes")
    return bytes(reader.buf), reader.spans


def canonicalize(path: Path) -> bool:
    """Sort the ``encodings`` lists in the footer of the Parquet file ``path`` in place.

    Returns:
        True when bytes changed.

    Raises:
        FooterError: the file is not an unencrypted Parquet file.
    """
    with open(path, "r+b") as f:
        f.seek(0, 2)
        size = f.tell()
        if size < 12:
            raise FooterError(f"{path} is too small to be a Parquet file")
        f.seek(size - 8)
        tail = f.read(8)
        if tail[4:] != _MAGIC:
            raise FooterError(f"{path} does not end with the Parquet magic (encrypted or not Parquet)")
        length = struct.unpack("<I", tail[:4])[0]
        start = size - 8 - length
        if start < 4:
            raise FooterError(f"{path} has a footer longer than the file")
        f.seek(start)
        footer = f.read(length)
        canonical, _ = canonical_footer(footer)
        if canonical == footer:
            return False
        f.seek(start)
        f.write(canonical)
    return True
