"""Project configuration: the ``nbpipe.yaml`` models, discovery and validation.

Configuration is validated once, at the edge, into frozen pydantic models. Errors name the
file, the key path and what is allowed.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from nbpipe.core.lineage_config import LineageConfig
from nbpipe.core.notify import AlertsConfig, EmailChannel, VolumeConfig, check_channel, check_events
from nbpipe.core.paramtypes import check_declaration
from nbpipe.core.protocol import ENV_PROFILE
from nbpipe.core.retention import check_retention
from nbpipe.core.schedule import Freshness, cron_of, default_freshness, parse_duration
from nbpipe.errors import ConfigError, DatasetError, did_you_mean

CONFIG_FILE = "nbpipe.yaml"
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
ParamType = Literal["str", "int", "float", "bool", "date", "datetime", "list", "dict"]
WriteMode = Literal["merge", "append", "overwrite_partitions", "overwrite"]
WRITE_MODES: tuple[str, ...] = get_args(WriteMode)
PARAM_TYPES: tuple[str, ...] = get_args(ParamType)
# The run store's database URLs (``postgresql://`` is psycopg with SQLAlchemy 2.1; the store checks the driver).
STORE_SCHEMES = ("sqlite", "sqlite+pysqlite", "postgresql", "postgresql+psycopg")


def _string_map(value: Any) -> Any:
    """``{key: value}`` from YAML as strings (booleans as ``true``/``false``, as Spark and readers expect)."""
    if isinstance(value, dict):
        return {str(k): str(v).lower() if isinstance(v, bool) else str(v) for k, v in value.items()}
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SparkConfig(_Model):
    """How ``ctx.spark`` is built: embedded ``master`` (default ``local[*]``) or Connect ``remote``."""

    master: str | None = None
    remote: str | None = None
    app_name: str = "nbpipe"
    conf: dict[str, str] = Field(default_factory=dict)
    ui: bool = False
    # Frames up to this many rows are checked and written in-process from one Arrow materialization
    # (nbpipe.data.small); 0 keeps every frame on Spark. benchmarks/small_frames.py: in-process wins
    # up to 1M rows on local[2]; the default bounds the kernel's memory and the probe of larger frames.
    small_frame_rows: int = Field(default=250_000, ge=0)
    # Frames reading more than this many MB of files stay on Spark without being probed (a probe of
    # a frame that turns out large computes its plan once more).
    small_frame_input_mb: float = Field(default=128.0, ge=0)

    @field_validator("conf", mode="before")
    @classmethod
    def _stringify(cls, value: Any) -> Any:
        return _string_map(value)

    @model_validator(mode="after")
    def _one_of(self) -> SparkConfig:
        if self.master and self.remote:
            raise ValueError("set either 'master' (local[N], spark://host:port) or 'remote' (sc://host:port), not both")
        if self.remote and not self.remote.startswith("sc://"):
            raise ValueError(f"'remote' must be a Spark Connect URL like sc://127.0.0.1:15002, got {self.remote!r}")
        return self


class Profile(_Model):
    """One execution environment: where Spark runs, where data and run history live."""

    spark: SparkConfig = Field(default_factory=SparkConfig)
    warehouse: str = "warehouse"
    store: str = "sqlite:///runs/nbpipe.db"
    runs_dir: str = "runs"

    @field_validator("store")
    @classmethod
    def _supported_store(cls, value: str) -> str:
        scheme = value.split("://", 1)[0] if "://" in value else ""
        if scheme.lower() not in STORE_SCHEMES:
            shown = f"{scheme}://" if scheme else repr(value.split("@")[-1])
            raise ValueError(
                f"the run store URL scheme {shown} is not supported; use sqlite:///runs/nbpipe.db "
                "or postgresql+psycopg://user:password@host:5432/db"
            )
        return value


class ExpectRows(_Model):
    """Bounds on the rows one run writes to a dataset (``expect_rows: {min: 1000, max: 50000}``)."""

    min: int | None = Field(default=None, ge=0)
    max: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> ExpectRows:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"expect_rows min {self.min} is above max {self.max}; swap them or drop one")
        return self


class DatasetConfig(_Model):
    """A dataset the notebooks read or write."""

    path: str | None = None
    format: Literal["csv", "json", "parquet", "jdbc", "kafka"] = "parquet"
    options: dict[str, str] = Field(default_factory=dict)
    partition_by: list[str] = Field(default_factory=list)
    contract: str | None = None
    retention_days: int | None = Field(default=None, ge=1)
    retention_column: str | None = None  # the date partition column gc reads (default: the first of partition_by)
    quarantine_retention_days: int | None = Field(default=None, ge=1)  # default: retention_days
    on_bad_rows: Literal["quarantine", "fail"] = "quarantine"
    primary_key: list[str] = Field(default_factory=list)
    write_mode: WriteMode | None = None
    encoding: str = "utf-8"
    follow_symlinks: bool = False
    description: str = ""
    owner: str = ""  # governance (shown in the `nbpipe docs` catalog)
    tags: list[str] = Field(default_factory=list)
    pii: bool = False
    expect_rows: ExpectRows | None = None
    volume: VolumeConfig | None = None

    @field_validator("options", mode="before")
    @classmethod
    def _stringify(cls, value: Any) -> Any:
        return _string_map(value)

    @model_validator(mode="after")
    def _retention(self) -> DatasetConfig:
        check_retention(self.retention_days, self.retention_column, self.partition_by)
        return self

    def date_column(self) -> str | None:
        """The date partition column whose values ``nbpipe gc`` compares with ``retention_days``."""
        return self.retention_column or (self.partition_by[0] if self.partition_by else None)

    def quarantine_days(self) -> int | None:
        """Days the quarantine keeps a run's rejected rows (``quarantine_retention_days``, else ``retention_days``)."""
        return self.quarantine_retention_days or self.retention_days


class ParamSpec(_Model):
    """The declared type and constraints of one notebook parameter."""

    type: ParamType | None = None
    required: bool = False
    choices: list[Any] | None = None
    min: Any = None
    max: Any = None
    secret: bool = False
    description: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> ParamSpec:
        # With a declared type, bounds and choices are checked here; with a type inferred from the
        # notebook's default, when the pipeline's parameters are built (nbpipe.core.params).
        if self.type is not None:
            check_declaration(self.type, self.choices, self.min, self.max)
        elif self.min is not None and self.max is not None:
            try:
                above = self.min > self.max
            except TypeError:  # e.g. "5" and 10: both may convert to the inferred type, checked then
                above = False
            if above:
                raise ValueError(f"'min' {self.min!r} is above 'max' {self.max!r}")
        return self


class NotifyRule(_Model):
    """Where to send a message (webhook, slack or email), and on which events (see ``nbpipe.core.notify``)."""

    name: str | None = None
    on: list[str] = Field(default_factory=lambda: ["failure"])
    webhook: str | None = None
    slack: str | None = None
    email: EmailChannel | None = None
    timeout_s: float = Field(default=10.0, gt=0, le=120)
    retries: int = Field(default=2, ge=0, le=10)

    @model_validator(mode="before")
    @classmethod
    def _yaml_on(cls, data: Any) -> Any:
        # YAML 1.1 reads an unquoted `on:` key as the boolean true.
        if isinstance(data, dict) and True in data:
            return {("on" if key is True else key): value for key, value in data.items()}
        return data

    @field_validator("on")
    @classmethod
    def _events(cls, value: list[str]) -> list[str]:
        return check_events(value)

    @model_validator(mode="after")
    def _one_channel(self) -> NotifyRule:
        return check_channel(self)


class FreshnessConfig(_Model):
    """How long after a scheduled run is due the pipeline counts as late (warn) and failing (error)."""

    warn_after: str
    error_after: str | None = None

    @model_validator(mode="after")
    def _durations(self) -> FreshnessConfig:
        warn = parse_duration(self.warn_after)
        if self.error_after is not None and parse_duration(self.error_after) < warn:
            raise ValueError(f"error_after {self.error_after!r} is shorter than warn_after {self.warn_after!r}")
        return self

    def window(self) -> Freshness:
        warn = parse_duration(self.warn_after)
        error = parse_duration(self.error_after) if self.error_after is not None else 2 * warn
        return Freshness(warn_after=warn, error_after=error)


class PipelineConfig(_Model):
    """A notebook promoted to a pipeline."""

    notebook: str
    params: dict[str, ParamSpec] = Field(default_factory=dict)
    reads: list[str] = Field(default_factory=list)
    writes: list[str] = Field(default_factory=list)
    depends_on: list[str] = Field(default_factory=list)
    retries: int = Field(default=0, ge=0, le=20)
    retry_delay_s: float = Field(default=10.0, ge=0)
    timeout_s: float | None = Field(default=None, gt=0)
    cell_timeout_s: float | None = Field(default=None, gt=0)
    quality: Literal["fail", "warn"] = "fail"
    schedule: str | None = None
    schedule_param: str | None = None  # the parameter a scheduler fills with the run's date
    freshness: FreshnessConfig | None = None
    kernel: str = "python3"
    notify: list[NotifyRule] = Field(default_factory=list)

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None:
            cron_of(value)  # ValueError names the value and an example
        return value

    @model_validator(mode="after")
    def _freshness_needs_schedule(self) -> PipelineConfig:
        if self.freshness is not None and self.schedule is None:
            raise ValueError("'freshness' needs a 'schedule' (lateness is measured from when a run was due)")
        if self.schedule_param is not None and self.schedule is None:
            raise ValueError("'schedule_param' needs a 'schedule' (it names the parameter a scheduled run fills)")
        return self

    def freshness_window(self) -> Freshness | None:
        """The configured window, or the one derived from the schedule; ``None`` when unscheduled."""
        if self.schedule is None:
            return None
        return self.freshness.window() if self.freshness is not None else default_freshness(self.schedule)


class ProfileRate(_Model):
    """The price and size of one profile's compute (a cluster's cores are not this machine's)."""

    core_hour_usd: float | None = Field(default=None, ge=0)
    cores: int | None = Field(default=None, ge=1)


class CostConfig(_Model):
    """Prices of the cost model (:mod:`nbpipe.core.costmodel`); ``profiles`` override per profile."""

    core_hour_usd: float = Field(default=0.05, ge=0)
    gb_month_usd: float = Field(default=0.023, ge=0)
    profiles: dict[str, ProfileRate] = Field(default_factory=dict)

    def rate(self, profile: str) -> tuple[float, int | None]:
        """The core-hour price and the configured cores (None: measured) of ``profile``."""
        own = self.profiles.get(profile) or ProfileRate()
        price = own.core_hour_usd if own.core_hour_usd is not None else self.core_hour_usd
        return price, own.cores


class SecretsConfig(_Model):
    param_patterns: list[str] = Field(default_factory=lambda: ["*password*", "*token*", "*secret*", "*_key"])


class RunsPolicy(_Model):
    retention_days: int = Field(default=90, ge=1)
    keep_failed: int = Field(default=20, ge=0)


class ProjectConfig(_Model):
    """The whole ``nbpipe.yaml``."""

    project: str = "nbpipe"
    profiles: dict[str, Profile] = Field(default_factory=lambda: {"dev": Profile()})
    datasets: dict[str, DatasetConfig] = Field(default_factory=dict)
    pipelines: dict[str, PipelineConfig] = Field(default_factory=dict)
    cost: CostConfig = Field(default_factory=CostConfig)
    secrets: SecretsConfig = Field(default_factory=SecretsConfig)
    runs: RunsPolicy = Field(default_factory=RunsPolicy)
    notify: list[NotifyRule] = Field(default_factory=list)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    lineage: LineageConfig = Field(default_factory=LineageConfig)

    @model_validator(mode="after")
    def _cost_profiles(self) -> ProjectConfig:
        for name in self.cost.profiles:
            if name not in self.profiles:
                raise ValueError(f"cost.profiles names profile {name!r}, which is not defined"
                                 f"{did_you_mean(name, self.profiles)}; defined: {', '.join(sorted(self.profiles))}")
        return self

    @field_validator("datasets", "pipelines")
    @classmethod
    def _names(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name in value:
            if not NAME_RE.match(name):
                raise ValueError(f"name {name!r} is not allowed: use letters, digits and '_', starting with a letter")
        return value


class Project:
    """A loaded project: its root directory, validated config and active profile."""

    def __init__(self, root: Path, config: ProjectConfig, profile: str, source: Path | None) -> None:
        self.root = root
        self.config = config
        self.profile_name = profile
        self.source = source
        if profile not in config.profiles:
            where = f" in {source}" if source else ""
            raise ConfigError(
                f"profile {profile!r} is not defined{where}{did_you_mean(profile, config.profiles)}",
                hint=f"defined profiles: {', '.join(sorted(config.profiles)) or '(none)'}",
            )

    @property
    def profile(self) -> Profile:
        return self.config.profiles[self.profile_name]

    def path(self, value: str) -> Path:
        """Resolve a path from the config relative to the project root."""
        p = Path(value)
        return p if p.is_absolute() else (self.root / p)

    @property
    def spark_cores(self) -> int:
        """Cores the profile's compute is priced for: ``cost.profiles.<profile>.cores``, else ``local[N]``.

        A standalone or Connect profile without configured cores falls back to this machine's
        count; run records use the executors' cores Spark reports instead (:mod:`nbpipe.run.resources`).
        """
        configured = self.config.cost.rate(self.profile_name)[1]
        if configured is not None:
            return configured
        master = self.profile.spark.master or "local[*]"
        inner = master[6:-1] if master.startswith("local[") else ""
        return int(inner) if inner.isdigit() else (os.cpu_count() or 1)

    @property
    def runs_dir(self) -> Path:
        return self.path(self.profile.runs_dir)

    @property
    def warehouse(self) -> Path:
        return self.path(self.profile.warehouse)

    @property
    def store_url(self) -> str:
        url = self.profile.store
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/") and url != "sqlite:///:memory:":
            url = prefix + str(self.root / url[len(prefix) :])
        return url

    def pipeline(self, name: str) -> PipelineConfig:
        try:
            return self.config.pipelines[name]
        except KeyError:
            raise ConfigError(
                f"pipeline {name!r} is not declared in {self.source or CONFIG_FILE}"
                f"{did_you_mean(name, self.config.pipelines)}",
                hint="declare it under 'pipelines:' or run `nbpipe promote NOTEBOOK` to add it",
            ) from None

    def notebook_path(self, pipeline: str, config: PipelineConfig | None = None) -> Path:
        """The notebook of ``pipeline`` (or of ``config``), refusing one outside the project directory.

        The check is on the path as written (``..`` and absolute paths elsewhere are refused);
        symlinks inside the project are followed when the notebook is read.
        """
        cfg = config or self.pipeline(pipeline)
        root = Path(os.path.normpath(self.root))
        candidate = Path(os.path.normpath(root / cfg.notebook))
        if root not in candidate.parents:
            raise ConfigError(
                f"pipelines.{pipeline}.notebook {cfg.notebook!r} is outside the project directory {root}",
                hint="move the notebook into the project and give its path relative to nbpipe.yaml",
            )
        return candidate

    def dataset(self, name: str) -> DatasetConfig:
        check_name(name, "dataset")
        try:
            return self.config.datasets[name]
        except KeyError:
            raise DatasetError(
                f"dataset {name!r} is not declared in {self.source or CONFIG_FILE}"
                f"{did_you_mean(name, self.config.datasets)}",
                hint="declare it under 'datasets:' in nbpipe.yaml",
            ) from None


def check_name(name: str, kind: str) -> str:
    """Refuse names that could escape their root (``..``, ``/``, absolute paths)."""
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise DatasetError(
            f"{kind} name {name!r} is not allowed",
            hint="use letters, digits and '_' only (no '/', '..' or spaces), starting with a letter",
        )
    return name


def inside(root: Path, candidate: Path, what: str) -> Path:
    """Return ``candidate`` resolved, refusing anything outside ``root``."""
    root_r = root.resolve()
    cand_r = candidate.resolve()
    if cand_r != root_r and root_r not in cand_r.parents:
        raise DatasetError(
            f"{what} {candidate} escapes its root {root_r}",
            hint="use a path inside the root; '..' and absolute paths elsewhere are refused",
        )
    return cand_r


def find_config(start: Path) -> Path | None:
    """Walk up from ``start`` to the first directory holding ``nbpipe.yaml``."""
    start = start.resolve()
    for directory in (start, *start.parents):
        candidate = directory / CONFIG_FILE
        if candidate.is_file():
            return candidate
    return None


def _format_validation(source: Path, exc: ValidationError) -> str:
    lines = [f"{source} is not valid:"]
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            parent = err["loc"][:-1]
            allowed = _allowed_keys(parent)
            key = str(err["loc"][-1])
            msg = f"unknown key{did_you_mean(key, allowed)}; allowed: {', '.join(allowed)}"
        elif err["type"] == "literal_error":
            msg = f"{msg} (got {err.get('input')!r})"
        elif err["type"] == "value_error":
            msg = msg.removeprefix("Value error, ")
        lines.append(f"  - {loc}: {msg}")
    return "\n".join(lines)


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    model: type[BaseModel] = ProjectConfig
    i = 0
    while i < len(loc):
        field = model.model_fields.get(str(loc[i]))
        if field is None:
            return []
        ann = field.annotation
        args = getattr(ann, "__args__", ())
        nested = [a for a in (ann, *args) if isinstance(a, type) and issubclass(a, BaseModel)]
        if not nested:
            return []
        model = nested[0]
        if getattr(ann, "__origin__", None) in (dict, list):
            i += 1  # skip the mapping key / list index
        i += 1
    return sorted(model.model_fields)


def load_project(start: Path | None = None, *, project_dir: Path | None = None, profile: str | None = None) -> Project:
    """Load ``nbpipe.yaml`` from ``project_dir`` or by walking up from ``start``."""
    source: Path | None
    if project_dir is not None:
        source = Path(project_dir) / CONFIG_FILE
        if not source.is_file():
            raise ConfigError(f"no {CONFIG_FILE} in {project_dir}", hint="create one with `nbpipe init DIR`")
    else:
        source = find_config(start or Path.cwd())
        if source is None:
            raise ConfigError(
                f"no {CONFIG_FILE} found in {(start or Path.cwd()).resolve()} or any parent",
                hint="run inside a project, pass --project DIR, or create one with `nbpipe init`",
            )
    assert source is not None
    try:
        raw = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{source} must hold a mapping at the top level, got {type(raw).__name__}")
    try:
        config = ProjectConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_validation(source, exc)) from None
    chosen = profile or os.environ.get(ENV_PROFILE) or "dev"
    project = Project(source.parent.resolve(), config, chosen, source.resolve())
    for name in config.pipelines:
        project.notebook_path(name)
    return project
