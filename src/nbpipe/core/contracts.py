"""Schema contracts: the versioned, reviewed shape of a dataset, and how contracts change.

Pure: no Spark here. A contract is a small YAML file (``contracts/<dataset>.yaml`` by convention,
or the dataset's ``contract:`` setting) written by ``nbpipe promote`` and enforced on production
reads and writes by :mod:`nbpipe.data.catalog`. Schemas travel between the kernel and the runner as
plain lists of ``{name, type, nullable}`` where ``type`` is a Spark ``simpleString``
(``"string"``, ``"int"``, ``"bigint"``, ``"double"``, ``"date"``, ``"timestamp"``,
``"decimal(10,2)"``, ``"array<string>"`` …).

Versions are ``MAJOR.MINOR``: :func:`next_version` bumps the minor version for additive changes
(a nullable column added, a column widened or made nullable) and the major version for breaking
ones (a column removed, retyped, made non-null, a non-null column added, the partitioning changed).
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from nbpipe.core.config import Project, check_name, inside
from nbpipe.core.sqltext import sql_name
from nbpipe.errors import ConfigError, DatasetError, did_you_mean

CONTRACTS_DIR = "contracts"
#: Columns nbpipe adds itself; they never belong in a contract.
INTERNAL_PREFIX = "_nbpipe_"
CORRUPT_COLUMN = "_corrupt_record"

_VERSION_RE = re.compile(r"^(\d+)\.(\d+)$")
_PRIMITIVES = {
    "string", "boolean", "tinyint", "smallint", "int", "bigint", "float", "double", "date",
    "timestamp", "timestamp_ntz", "binary", "void",
}
_ALIASES = {
    "str": "string", "bool": "boolean", "byte": "tinyint", "short": "smallint", "integer": "int",
    "long": "bigint", "real": "float", "decimal": "decimal(10,0)",
}
_DECIMAL_RE = re.compile(r"^decimal\(\s*(\d+)\s*,\s*(\d+)\s*\)$")
_COMPLEX_RE = re.compile(r"^(array|map|struct)<.+>$")
_INT_RANK = {"tinyint": 1, "smallint": 2, "int": 3, "bigint": 4}
# libyaml's safe loader when PyYAML has it (about 10x faster; `nbpipe docs` loads every contract).
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def normalize_type(value: str) -> str:
    """Return the Spark ``simpleString`` spelling of a type (``"integer"`` → ``"int"``).

    Raises:
        ValueError: when ``value`` is not a type Spark knows.
    """
    text = " ".join(str(value).strip().lower().split())
    text = _ALIASES.get(text, text)
    if text in _PRIMITIVES:
        return text
    match = _DECIMAL_RE.match(text)
    if match:
        precision, scale = int(match.group(1)), int(match.group(2))
        if not 1 <= precision <= 38 or scale > precision:
            raise ValueError(f"decimal({precision},{scale}): need 1 <= precision <= 38, scale <= precision")
        return f"decimal({precision},{scale})"
    if _COMPLEX_RE.match(text) and text.count("<") == text.count(">"):
        return text.replace(", ", ",").replace(": ", ":")
    raise ValueError(
        f"unknown type {value!r}; use a Spark type such as string, int, bigint, double, boolean, "
        "date, timestamp, decimal(10,2), array<string>"
    )


def is_widening(source: str, target: str) -> bool:
    """True when every value of type ``source`` fits losslessly in type ``target``."""
    if source == target:
        return True
    if source in _INT_RANK and target in _INT_RANK:
        return _INT_RANK[source] <= _INT_RANK[target]
    if source in ("tinyint", "smallint", "int", "float") and target == "double":
        return True
    if source in ("tinyint", "smallint") and target == "float":
        return True
    src_dec, tgt_dec = _DECIMAL_RE.match(source), _DECIMAL_RE.match(target)
    if tgt_dec:
        p2, s2 = int(tgt_dec.group(1)), int(tgt_dec.group(2))
        if src_dec:
            p1, s1 = int(src_dec.group(1)), int(src_dec.group(2))
            return s2 >= s1 and (p2 - s2) >= (p1 - s1)
        digits = {"tinyint": 3, "smallint": 5, "int": 10, "bigint": 20}.get(source)
        return digits is not None and (p2 - s2) >= digits
    return source == "date" and target in ("timestamp", "timestamp_ntz")


class Column(BaseModel):
    """One column of a contract."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    type: str
    nullable: bool = True
    description: str = ""
    tags: tuple[str, ...] = ()
    pii: bool = False

    @field_validator("type")
    @classmethod
    def _type(cls, value: str) -> str:
        return normalize_type(value)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value or value != value.strip():
            raise ValueError(f"column name {value!r} must be non-empty without surrounding spaces")
        return value

    def field(self) -> dict[str, Any]:
        """The column as a schema field ``{name, type, nullable}``."""
        return {"name": self.name, "type": self.type, "nullable": self.nullable}


class Contract(BaseModel):
    """The promised schema of a dataset: columns, partitioning, primary key, version."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: str
    version: str = "1.0"
    description: str = ""
    owner: str = ""
    tags: tuple[str, ...] = ()
    columns: tuple[Column, ...] = Field(default_factory=tuple)
    partition_by: tuple[str, ...] = ()
    primary_key: tuple[str, ...] = ()

    @field_validator("version", mode="before")
    @classmethod
    def _version(cls, value: Any) -> str:
        text = str(value)
        if not _VERSION_RE.match(text):
            raise ValueError(f"version must look like MAJOR.MINOR (e.g. '1.0'), got {value!r}")
        return text

    @model_validator(mode="after")
    def _consistent(self) -> Contract:
        check_name(self.dataset, "dataset")
        names = [c.name for c in self.columns]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate column(s): {', '.join(dupes)}")
        for key in ("partition_by", "primary_key"):
            unknown = [n for n in getattr(self, key) if n not in names]
            if unknown:
                raise ValueError(f"{key} names unknown column(s): {', '.join(unknown)}")
        return self

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column | None:
        """The column called ``name``, or None."""
        return next((c for c in self.columns if c.name == name), None)

    def fields(self) -> list[dict[str, Any]]:
        """The schema as ``[{name, type, nullable}]``."""
        return [c.field() for c in self.columns]

    def ddl(self) -> str:
        """The schema as a Spark DDL string (``"`a` int, `b` string"``)."""
        return ", ".join(f"{sql_name(c.name)} {c.type}" for c in self.columns)

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])


def _fields(schema: Iterable[Mapping[str, Any]]) -> list[Column]:
    out = []
    for f in schema:
        name = str(f["name"])
        if name == CORRUPT_COLUMN or name.startswith(INTERNAL_PREFIX):
            continue
        out.append(Column(name=name, type=str(f["type"]), nullable=bool(f.get("nullable", True)),
                          description=str(f.get("description", "") or ""),
                          tags=tuple(f.get("tags") or ()), pii=bool(f.get("pii", False))))
    return out


def contract_from_schema(
    dataset: str,
    fields: Sequence[Mapping[str, Any]],
    *,
    version: str = "1.0",
    partition_by: Sequence[str] = (),
    primary_key: Sequence[str] = (),
    non_null: Iterable[str] = (),
    description: str = "",
    owner: str = "",
    tags: Sequence[str] = (),
) -> Contract:
    """Build a contract from a schema ``[{name, type, nullable}]``.

    ``_corrupt_record`` and ``_nbpipe_*`` columns are dropped. Columns in ``non_null`` (for example
    those an explore run observed without nulls) and primary-key columns become non-nullable.
    """
    forced = set(non_null) | set(primary_key)
    columns = [c.model_copy(update={"nullable": False}) if c.name in forced else c for c in _fields(fields)]
    try:
        return Contract(dataset=dataset, version=version, description=description, owner=owner, tags=tuple(tags),
                        columns=tuple(columns),
                        partition_by=tuple(partition_by), primary_key=tuple(primary_key))
    except ValidationError as exc:
        raise ConfigError(f"cannot build a contract for {dataset!r}: {_errors(exc)}") from None


def _errors(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        if err["type"] == "extra_forbidden":
            model = Column if len(err["loc"]) > 1 and err["loc"][0] == "columns" else Contract
            key, allowed = str(err["loc"][-1]), list(model.model_fields)
            parts.append(f"{loc}: unknown key {key!r}{did_you_mean(key, allowed)}; allowed keys: {', '.join(allowed)}")
            continue
        parts.append(f"{loc}: {err['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)


def load_contract(path: Path) -> Contract:
    """Read and validate a contract YAML file.

    Raises:
        DatasetError: the file does not exist.
        ConfigError: the file is not valid YAML or not a valid contract (names the key).
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(
            f"contract file {path} does not exist",
            hint="explore the notebook, then run `nbpipe promote <notebook>` to write it",
        )
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_SAFE_LOADER) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"contract {path} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"contract {path} must hold a mapping, got {type(raw).__name__}")
    try:
        return Contract.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"contract {path} is not valid: {_errors(exc)}",
                          hint="fix the file or regenerate it with `nbpipe promote <notebook>`") from None


def dump_contract(contract: Contract) -> str:
    """The contract as stable YAML text (fixed key order; same contract → same bytes)."""
    data: dict[str, Any] = {"dataset": contract.dataset, "version": contract.version}
    data.update(_governance(contract, ("description", "owner", "tags")))
    data["columns"] = [
        {"name": c.name, "type": c.type, "nullable": c.nullable, **_governance(c, ("description", "tags", "pii"))}
        for c in contract.columns
    ]
    data["partition_by"] = list(contract.partition_by)
    data["primary_key"] = list(contract.primary_key)
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True, width=100)


def _governance(item: BaseModel, keys: Sequence[str]) -> dict[str, Any]:
    """The governance keys a person set on a contract or column (empty ones are left out)."""
    values = {k: getattr(item, k) for k in keys}
    return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items() if v}


def save_contract(contract: Contract, path: Path) -> Path:
    """Write the contract atomically (temp file + rename) as stable YAML; return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(dump_contract(contract))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def contract_path(project: Project, dataset: str) -> Path:
    """Where the contract of ``dataset`` lives: its ``contract:`` setting or ``contracts/<dataset>.yaml``."""
    check_name(dataset, "dataset")
    configured = project.config.datasets.get(dataset)
    if configured is not None and configured.contract:
        return inside(project.root, project.path(configured.contract), f"contract of dataset {dataset!r}")
    return project.root / CONTRACTS_DIR / f"{dataset}.yaml"


def find_contract(project: Project, dataset: str) -> Contract | None:
    """The contract of ``dataset`` if its file exists, else None."""
    path = contract_path(project, dataset)
    return load_contract(path) if path.is_file() else None


@dataclass(frozen=True)
class Retyped:
    """A column whose type changed."""

    name: str
    old: str
    new: str

    @property
    def widening(self) -> bool:
        return is_widening(self.old, self.new)


@dataclass
class ContractDiff:
    """What changed between two contracts (``old`` → ``new``)."""

    dataset: str
    old_version: str | None = None
    new_version: str | None = None
    added: list[Column] = field(default_factory=list)
    removed: list[Column] = field(default_factory=list)
    retyped: list[Retyped] = field(default_factory=list)
    tightened: list[str] = field(default_factory=list)
    loosened: list[str] = field(default_factory=list)
    partition_by: tuple[tuple[str, ...], tuple[str, ...]] | None = None
    primary_key: tuple[tuple[str, ...], tuple[str, ...]] | None = None

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed or self.retyped or self.tightened or self.loosened
                    or self.partition_by or self.primary_key)

    def __bool__(self) -> bool:
        return self.changed

    @property
    def breaking_changes(self) -> list[str]:
        """One human sentence per change that breaks existing readers, writers or data."""
        out = []
        for c in self.removed:
            out.append(f"column {c.name} ({c.type}) removed: readers that select it will fail")
        for r in self.retyped:
            if not r.widening:
                out.append(f"column {r.name} retyped {r.old} -> {r.new}: existing data and readers "
                           f"expect {r.old}, values may not convert")
        for name in self.tightened:
            out.append(f"column {name} made non-null: rows with nulls (including existing data) "
                       "will be rejected")
        for c in self.added:
            if not c.nullable:
                out.append(f"non-null column {c.name} ({c.type}) added: existing data has no values for it")
        if self.partition_by:
            old, new = self.partition_by
            out.append(f"partitioning changed [{', '.join(old)}] -> [{', '.join(new)}]: existing "
                       "partitions cannot be overwritten in place; rewrite the dataset")
        return out

    @property
    def additive_changes(self) -> list[str]:
        """One human sentence per compatible change."""
        out = [f"column {c.name} ({c.type}, nullable) added" for c in self.added if c.nullable]
        out += [f"column {r.name} widened {r.old} -> {r.new}" for r in self.retyped if r.widening]
        out += [f"column {name} made nullable: readers may now see nulls" for name in self.loosened]
        if self.primary_key:
            old, new = self.primary_key
            out.append(f"primary key changed [{', '.join(old)}] -> [{', '.join(new)}]")
        return out

    @property
    def breaking(self) -> bool:
        return bool(self.breaking_changes)

    def render(self) -> str:
        """A readable, diff-like text of the changes."""
        head = f"contract {self.dataset}"
        if self.old_version or self.new_version:
            head += f" {self.old_version or '?'} -> {self.new_version or '(data)'}"
        if not self.changed:
            return f"{head}: no changes"
        lines = [head + (" (BREAKING)" if self.breaking else " (additive)")]
        lines += [f"  + {c.name}: {c.type}{'' if c.nullable else ' not null'}" for c in self.added]
        lines += [f"  - {c.name}: {c.type}{'' if c.nullable else ' not null'}" for c in self.removed]
        lines += [f"  ~ {r.name}: {r.old} -> {r.new}" for r in self.retyped]
        lines += [f"  ~ {n}: nullable -> not null" for n in self.tightened]
        lines += [f"  ~ {n}: not null -> nullable" for n in self.loosened]
        if self.partition_by:
            lines.append(f"  ~ partition_by: {list(self.partition_by[0])} -> {list(self.partition_by[1])}")
        if self.primary_key:
            lines.append(f"  ~ primary_key: {list(self.primary_key[0])} -> {list(self.primary_key[1])}")
        if self.breaking:
            lines.append("breaks:")
            lines += [f"  * {text}" for text in self.breaking_changes]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (for ``--json`` output and run records)."""
        return {
            "dataset": self.dataset, "old_version": self.old_version, "new_version": self.new_version,
            "added": [c.field() for c in self.added], "removed": [c.field() for c in self.removed],
            "retyped": [{"name": r.name, "old": r.old, "new": r.new} for r in self.retyped],
            "tightened": list(self.tightened), "loosened": list(self.loosened),
            "partition_by": [list(x) for x in self.partition_by] if self.partition_by else None,
            "primary_key": [list(x) for x in self.primary_key] if self.primary_key else None,
            "breaking": self.breaking, "breaking_changes": self.breaking_changes,
            "additive_changes": self.additive_changes,
        }


def diff_contracts(old: Contract, new: Contract, *, compare_keys: bool = True) -> ContractDiff:
    """Compare two contracts of the same dataset, column by column (order is ignored).

    ``compare_keys=False`` skips partitioning and primary key (used when ``new`` was derived from
    data, which carries neither).
    """
    diff = ContractDiff(dataset=old.dataset, old_version=old.version, new_version=new.version)
    old_cols = {c.name: c for c in old.columns}
    new_cols = {c.name: c for c in new.columns}
    diff.added = [c for c in new.columns if c.name not in old_cols]
    diff.removed = [c for c in old.columns if c.name not in new_cols]
    for c in old.columns:
        other = new_cols.get(c.name)
        if other is None:
            continue
        if other.type != c.type:
            diff.retyped.append(Retyped(c.name, c.type, other.type))
        if c.nullable and not other.nullable:
            diff.tightened.append(c.name)
        elif not c.nullable and other.nullable:
            diff.loosened.append(c.name)
    if compare_keys:
        if old.partition_by != new.partition_by:
            diff.partition_by = (old.partition_by, new.partition_by)
        if old.primary_key != new.primary_key:
            diff.primary_key = (old.primary_key, new.primary_key)
    return diff


def next_version(old: Contract | str, diff: ContractDiff) -> str:
    """The version after applying ``diff``: major bump if breaking, minor if additive, else same."""
    version = old.version if isinstance(old, Contract) else str(old)
    match = _VERSION_RE.match(version)
    if not match:
        raise ValueError(f"version must look like MAJOR.MINOR, got {version!r}")
    major, minor = int(match.group(1)), int(match.group(2))
    if diff.breaking:
        return f"{major + 1}.0"
    if diff.changed:
        return f"{major}.{minor + 1}"
    return version


@dataclass
class SchemaCheck:
    """How a frame's schema compares with a contract (names and types; nulls are checked on data)."""

    missing: list[Column] = field(default_factory=list)
    extra: list[dict[str, Any]] = field(default_factory=list)
    retyped: list[Retyped] = field(default_factory=list)
    widened: list[Retyped] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.extra or self.retyped)

    def problems(self) -> list[str]:
        """One line per mismatch, naming the column, the expected and the actual type."""
        out = [f"column {c.name}: missing (contract expects {c.type})" for c in self.missing]
        out += [f"column {f['name']}: not in the contract (frame has {f['type']})" for f in self.extra]
        out += [f"column {r.name}: expected {r.new}, got {r.old}" for r in self.retyped]
        return out


def check_schema(contract: Contract, fields: Sequence[Mapping[str, Any]]) -> SchemaCheck:
    """Compare a frame's schema ``[{name, type, nullable}]`` with ``contract``.

    A frame column whose type widens losslessly into the contract type (``int`` into ``bigint``)
    is reported in ``widened`` (castable), not as a mismatch.
    """
    result = SchemaCheck()
    have = {str(f["name"]): normalize_type(str(f["type"])) for f in fields}
    for c in contract.columns:
        actual = have.get(c.name)
        if actual is None:
            result.missing.append(c)
        elif actual != c.type:
            (result.widened if is_widening(actual, c.type) else result.retyped).append(
                Retyped(c.name, actual, c.type))
    wanted = set(contract.names)
    result.extra = [
        {"name": str(f["name"]), "type": str(f["type"])} for f in fields if str(f["name"]) not in wanted
    ]
    return result
