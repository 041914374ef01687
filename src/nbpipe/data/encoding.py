"""The declared text encoding of a CSV or JSON dataset, and the files whose bytes it cannot decode.

A dataset's ``encoding`` (nbpipe.yaml, default ``utf-8``) is the charset Spark reads its files with.
Spark's CSV and JSON readers never fail on bytes the charset cannot decode: they put U+FFFD in their
place (CSV: ``José`` in latin-1 becomes ``Jos\\ufffd``; JSON: the line is merely "malformed"). So
every file is first decoded here, strictly, in Python (one sequential read at C speed, a few hundred
MB/s), and :func:`undecodable_files` names each file holding bytes the encoding cannot decode, with the
line and byte offset of the first one. The strict read then rejects exactly the rows of those files
that hold U+FFFD (see :mod:`nbpipe.data.strict`); files that decode cleanly cost the scan only.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from pathlib import Path

from nbpipe.core.config import DatasetConfig
from nbpipe.errors import ConfigError

TEXT_FORMATS = ("csv", "json")
REPLACEMENT = "\ufffd"  # what Spark puts in place of an undecodable byte
_CHUNK = 8 * 1024 * 1024
_SPARK_OPTIONS = ("encoding", "charset")
SPARK_CHARSETS = ("utf-8", "iso-8859-1", "us-ascii", "utf-16", "utf-16le", "utf-16be", "utf-32", "utf-32le",
                  "utf-32be")
# Python codec name -> the Java charset Spark wants, where Java does not know Python's name.
_JAVA_NAMES = {"utf-8": "UTF-8", "iso8859-1": "ISO-8859-1", "ascii": "US-ASCII", "utf-16": "UTF-16",
               "utf-16-le": "UTF-16LE", "utf-16-be": "UTF-16BE", "utf-32": "UTF-32",
               "utf-32-le": "UTF-32LE", "utf-32-be": "UTF-32BE", "latin-1": "ISO-8859-1"}


@dataclass(frozen=True)
class Undecodable:
    """A file holding bytes its dataset's encoding cannot decode."""

    path: Path
    line: int  # 1-based line of the first undecodable byte
    offset: int  # its byte offset in the file
    lines: int  # how many lines hold undecodable bytes
    encoding: str

    def describe(self) -> str:
        more = f" ({self.lines} line(s) in all)" if self.lines > 1 else ""
        return f"{self.path} line {self.line} (byte {self.offset}) is not valid {self.encoding}{more}"


def codec(name: str, cfg: DatasetConfig) -> str:
    """The dataset's declared encoding as a Python codec name, checked once per read.

    Raises:
        ConfigError: unknown encoding, an encoding on a format that has none, or a Spark
            ``options.encoding``/``charset`` that contradicts the dataset's ``encoding``.
    """
    key = f"datasets.{name}.encoding"
    declared = "encoding" in cfg.model_fields_set
    if cfg.format not in TEXT_FORMATS:
        if declared:
            raise ConfigError(f"{key}: {cfg.format} datasets have no text encoding (it applies to csv and json)",
                              hint=f"remove {key} from nbpipe.yaml")
        return "utf-8"
    given = [(k, v) for k, v in cfg.options.items() if k.lower() in _SPARK_OPTIONS]
    # Spark's own option, from before the dataset key existed, still declares the encoding alone.
    value, where = (given[0][1], f"datasets.{name}.options.{given[0][0]}") if given and not declared else (
        cfg.encoding, key)
    try:
        found = codecs.lookup(value).name
    except LookupError:
        raise ConfigError(f"{where}: unknown encoding {value!r}",
                          hint="use a standard name such as utf-8, latin-1, cp1252 or utf-16") from None
    if spark_charset(found).lower() not in SPARK_CHARSETS:
        raise ConfigError(f"{where}: Spark reads CSV and JSON files in {', '.join(SPARK_CHARSETS)} only, "
                          f"not {value!r}", hint="convert the files first (e.g. iconv -f cp1252 -t utf-8)")
    for option, other in given:
        try:
            same = codecs.lookup(other).name == found
        except LookupError:
            same = False
        if not same:
            raise ConfigError(
                f"dataset {name!r}: options.{option} {other!r} and encoding {value!r} disagree",
                hint=f"declare the files' encoding once, as {key}, and drop options.{option}")
    return found


def spark_charset(python_codec: str) -> str:
    """The Java charset name Spark's readers take for a Python codec name."""
    return _JAVA_NAMES.get(python_codec, python_codec)


def spark_options(cfg: DatasetConfig, python_codec: str) -> dict[str, str]:
    """The reader options that make Spark decode a CSV/JSON dataset's files with its encoding."""
    options = {"encoding": spark_charset(python_codec)}
    if cfg.format == "json" and python_codec != "utf-8" and not any(k.lower() == "linesep" for k in cfg.options):
        options["lineSep"] = "\n"  # Spark needs it to split JSON lines in any other charset
    return options


def undecodable_files(files: list[Path], encoding: str) -> list[Undecodable]:
    """The files among ``files`` holding bytes ``encoding`` cannot decode (strict, whole files)."""
    return [found for f in files if (found := _scan(f, encoding)) is not None]


def _scan(path: Path, encoding: str) -> Undecodable | None:
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    consumed = 0
    with open(path, "rb") as fh:
        while True:
            chunk = fh.read(_CHUNK)
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                return _locate(path, encoding, consumed + exc.start)
            if not chunk:
                return None
            consumed += len(chunk)


def _locate(path: Path, encoding: str, near: int) -> Undecodable:
    """The first undecodable line (at or before byte ``near``) and how many lines hold such bytes.

    Decodes line by line: slow, but only files known to be bad get here.
    """
    first: tuple[int, int] | None = None
    bad = 0
    offset = 0
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            try:
                raw.decode(encoding)
            except UnicodeDecodeError as exc:
                bad += 1
                if first is None:
                    first = (number, offset + exc.start)
            offset += len(raw)
    line, at = first if first is not None else (1, near)  # a multi-byte encoding split across lines
    return Undecodable(path, line, at, max(bad, 1), encoding)
