"""Whether a run is up to date: the fingerprint basis, the comparison, and why it differs.

A run is skipped when its fingerprint equals the last successful run's (for a backfill day: the
last success with the same parameters). The fingerprint is one hash over named **parts**, each
the hash of one thing that can change the run's output:

==================  ============================================================================
``notebook``        the notebook's code cells (:func:`nbpipe.core.fingerprint.notebook_fingerprint`)
``params``          the effective parameters; secret values only as keyed HMACs
``key``             the public id of the fingerprint key, when a secret was fingerprinted
``pipeline``        the pipeline's ``nbpipe.yaml`` entry (without ``notify``, ``schedule``, ``schedule_param``,
                    ``depends_on`` and the retry and timeout settings, which cannot change output)
``profile``         the profile's name, settings (without ``store``) and the run mode
``dataset:<d>``     the ``nbpipe.yaml`` entry of each dataset the run touches
``contract:<d>``    the contract file of each of those datasets (``absent`` if it has none)
``suite:<s>``       each expectation suite it checks, and each suite named after one of its datasets
``module:<path>``   each project-local Python module the notebook imports (transitively)
``input:<d>``       the files of each input (size, mtime) and its committed incremental position
==================  ============================================================================

The datasets a run touches are its declared ``reads`` and ``writes``, the names its code passes as
literals to ``ctx.read``/``ctx.incremental``/``ctx.write``/``ctx.check``, the datasets the last
successful run actually read (its ``dataset_read`` events) and the datasets with committed state.
Its inputs are those it reads but does not write: a dataset it writes holds its own previous output.
Inputs nbpipe cannot see without reading them (JDBC tables, Kafka topics) make a run that cannot be
skipped, as does a run with no input nbpipe can see at all: the record says why. When a run is not
skipped, :func:`explain` names each part that differs from the run it was compared with.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbpipe.core import events as ev
from nbpipe.core import fingerprint as fp
from nbpipe.core.config import NAME_RE, PipelineConfig, Project
from nbpipe.core.contracts import contract_path
from nbpipe.core.layout import Listing, dataset_config, dataset_root, list_files
from nbpipe.core.params import ResolvedParams
from nbpipe.errors import ConfigError, DatasetError
from nbpipe.run import fingerprint_key
from nbpipe.run.notebook_deps import analyse

#: The folder of expectation suites (``nbpipe.quality.suites.suite_path``; the runner side may not
#: import the quality package, a test keeps the two in step).
EXPECTATIONS_DIR = "expectations"
ABSENT = "absent"
#: Pipeline settings that cannot change what a successful run writes.
NEUTRAL_PIPELINE_KEYS = frozenset({"notify", "schedule", "depends_on", "retries", "retry_delay_s", "timeout_s",
                                   "cell_timeout_s", "schedule_param"})
#: Names of configuration values hashed only with the key, on top of ``secrets.param_patterns``.
SECRET_CONFIG_PATTERNS = ("*password*", "*passwd*", "*secret*", "*token*", "*jaas*", "*credential*", "*_key",
                          "*.key", "*apikey*")
UNSEEN_FORMATS = ("jdbc", "kafka")
_ORDER = ("notebook", "params", "key", "pipeline", "profile", "dataset", "contract", "suite", "module", "input")


@dataclass(frozen=True)
class Prior:
    """The successful run a new run is compared with."""

    run_id: str
    fingerprint: str | None
    parts: Mapping[str, str]
    read: frozenset[str] = frozenset()  # datasets its events say it read
    suites: frozenset[str] = frozenset()  # suites its events say it checked


@dataclass
class Basis:
    """A run's fingerprint parts, the input listings they were made from, and why it cannot be skipped."""

    parts: dict[str, str]
    listings: dict[str, Listing] = field(default_factory=dict)
    blockers: list[str] = field(default_factory=list)

    @property
    def fingerprint(self) -> str:
        return fp.digest(self.parts)


class LazyKey:
    """The machine's fingerprint key, read (or created) only when a secret value needs it.

    A key file that cannot be used (readable by others, damaged, unwritable runs directory) does not
    fail the run: secrets are then hashed with a throwaway key, so the run matches no other and is
    not skipped, and :attr:`problem` says why.
    """

    def __init__(self, runs_dir: Path) -> None:
        self.runs_dir = runs_dir
        self._key: bytes | None = None
        self.problem: str | None = None

    def __call__(self) -> bytes:
        if self._key is None:
            try:
                self._key = fingerprint_key.load_or_create(self.runs_dir)
            except ConfigError as exc:
                self.problem = f"the fingerprint key cannot be used: {exc.message} (fix: {exc.hint})"
                self._key = secrets.token_bytes(32)
            except OSError as exc:
                self.problem = f"the fingerprint key cannot be used: {exc}"
                self._key = secrets.token_bytes(32)
        return self._key

    @property
    def used(self) -> bool:
        return self._key is not None


@dataclass
class Verdict:
    """Whether a run is skipped, over which basis, and (when it is not) the event payload saying why."""

    basis: Basis
    prior: Prior | None = None
    skip: str | None = None
    not_skipped: dict[str, Any] | None = None


def check(project: Project, store: Any, pipeline: str, cfg: PipelineConfig, *, notebook: Path,
          nb_json: Mapping[str, Any], params: ResolvedParams, mode: str, state: Mapping[str, Any],
          force: bool = False, same_params: bool = False) -> Verdict:
    """Fingerprint a run about to start and compare it with the last success (runs in ``prod`` only).

    Args:
        same_params: Compare with the last success with the same parameters (a backfill day).
    """
    key = LazyKey(project.runs_dir)
    prod = mode == "prod"
    params_fp = params_part(params, key) if same_params else None
    prior = find_prior(store, pipeline, params=params_fp) if prod else None
    basis = build(project, pipeline, cfg, notebook=notebook, nb_json=nb_json, params=params, mode=mode,
                  state=state, prior=prior, key=key)
    if not prod:
        return Verdict(basis)
    if prior is not None and prior.fingerprint == basis.fingerprint and not basis.blockers and not force:
        return Verdict(basis, prior, skip=(
            "up to date: notebook code, parameters, configuration, contracts, suites, profile, project modules "
            f"and inputs are unchanged since run {prior.run_id}"))
    found = changes(basis.parts, prior) if prior is not None else []
    reasons = list(basis.blockers)
    if found or prior is None:
        reasons.append(explain(found, prior))
    message = "not skipped: " + ("run with --force" if force else "; ".join(reasons))
    return Verdict(basis, prior, not_skipped={
        "message": message, "fingerprint_changed": found, "compared_with": prior.run_id if prior else None,
        "not_skippable": list(basis.blockers)})


def params_part(params: ResolvedParams, key: Callable[[], bytes]) -> str:
    """The ``params`` part: every effective value, secret ones as keyed HMACs."""
    effective = params.effective
    secret = {n for n in params.secret_names if effective.get(n) not in (None, "")}
    if not secret:
        return fp.params_fingerprint(effective)
    return fp.params_fingerprint(fp.secret_safe_params(effective, secret, key()))


def find_prior(store: Any, pipeline: str, *, params: str | None = None) -> Prior | None:
    """The last successful run of ``pipeline`` (with this ``params`` part, if given), from the run store."""
    last = store.last_successful(pipeline, params_fingerprint=params)
    if not last:
        return None
    run_id = str(last["run_id"])
    record = store.get_run(run_id)
    events = store.get_events(run_id)
    return Prior(
        run_id=run_id,
        fingerprint=last.get("fingerprint"),
        parts=dict(record.get("fingerprint_parts") or {}),
        read=frozenset(str(e["dataset"]) for e in ev.of_kind(events, ev.DATASET_READ) if e.get("dataset")),
        suites=frozenset(str(e["suite"]) for e in ev.of_kind(events, ev.CHECK) if e.get("suite")),
    )


def build(
    project: Project,
    pipeline: str,
    cfg: PipelineConfig,
    *,
    notebook: Path,
    nb_json: Mapping[str, Any],
    params: ResolvedParams,
    mode: str,
    state: Mapping[str, Any],
    prior: Prior | None,
    key: LazyKey,
) -> Basis:
    """The fingerprint basis of a run about to start (see the module docstring for the parts)."""
    patterns = [*project.config.secrets.param_patterns, *SECRET_CONFIG_PATTERNS]

    def safe(value: Any) -> Any:
        redacted = fp.secret_safe_config(value, b"", patterns)
        return value if redacted == value else fp.secret_safe_config(value, key(), patterns)

    deps = analyse(fp.code_cells(nb_json), notebook.parent, project.root)
    basis = Basis(parts={"notebook": fp.notebook_fingerprint(nb_json), "params": params_part(params, key)})
    pipeline_entry = cfg.model_dump(mode="json", exclude=set(NEUTRAL_PIPELINE_KEYS))
    basis.parts["pipeline"] = fp.digest({"name": pipeline, **safe(pipeline_entry)})
    profile = project.profile.model_dump(mode="json", exclude={"store"})
    basis.parts["profile"] = fp.digest({"name": project.profile_name, "mode": mode, **safe(profile)})

    declared = project.config.datasets
    writes = set(cfg.writes) | {d for d in deps.writes if d in declared}
    read = set(cfg.reads) | set(state) | (prior.read if prior else set()) | {d for d in deps.reads if d in declared}
    # A dataset the pipeline writes holds its own previous output (an SCD2 table, a merge target): its
    # files change with every publish, so listing them would make every rerun stale.
    inputs = read - writes
    touched = read | writes
    for name in sorted(touched):
        _dataset_parts(project, name, basis, safe, prior)
    for name in sorted(deps.modules):
        basis.parts[f"module:{name}"] = _file_digest(deps.modules[name], basis)
    checked = set(deps.suites) | (prior.suites if prior else set())
    for name in sorted(checked | touched):
        if not NAME_RE.match(name):
            continue
        path = project.root / EXPECTATIONS_DIR / f"{name}.json"
        if name in checked or path.is_file():
            basis.parts[f"suite:{name}"] = _file_digest(path, basis)
    for name in sorted(inputs):
        _input_part(project, name, basis, state)
    if not inputs:
        basis.blockers.append(
            "it reads no input nbpipe can see (no `reads:` in nbpipe.yaml, and no ctx.read or ctx.incremental "
            "in its last successful run), so nbpipe cannot tell whether its input changed"
        )
    if key.used:
        basis.parts["key"] = "key:" + fp.key_id(key())
    if key.problem:
        basis.blockers.append(key.problem)
    return basis


def _dataset_parts(project: Project, name: str, basis: Basis, safe: Callable[[Any], Any],
                   prior: Prior | None) -> None:
    try:
        cfg = dataset_config(project, name)
        contract = contract_path(project, name)
    except DatasetError as exc:
        where = f" (read by run {prior.run_id})" if prior and name in prior.read else ""
        basis.blockers.append(f"dataset `{name}`{where} cannot be fingerprinted: {exc.message}")
        return
    basis.parts[f"dataset:{name}"] = fp.digest(safe(cfg.model_dump(mode="json", exclude={"description"})))
    basis.parts[f"contract:{name}"] = _file_digest(contract, basis)


def _input_part(project: Project, name: str, basis: Basis, state: Mapping[str, Any]) -> None:
    try:
        cfg = dataset_config(project, name)
        root = dataset_root(project, name, cfg)
    except DatasetError:
        return  # _dataset_parts said why
    if cfg.format in UNSEEN_FORMATS:
        basis.blockers.append(
            f"input `{name}` is a {cfg.format} source: nbpipe cannot tell whether it has new "
            f"{'records' if cfg.format == 'kafka' else 'rows'} without reading it"
        )
        return
    try:
        listing = list_files(root) if root.exists() else {}
    except OSError as exc:
        basis.blockers.append(f"the files of input `{name}` cannot be listed: {exc}")
        return
    basis.listings[name] = listing
    basis.parts[f"input:{name}"] = fp.digest({"files": listing, "position": state.get(name)})


def _file_digest(path: Path, basis: Basis) -> str:
    try:
        return fp.content_digest(path.read_bytes())
    except FileNotFoundError:
        return ABSENT
    except OSError as exc:
        basis.blockers.append(f"{path} cannot be read: {exc}")
        return "unreadable"


def caught_up(basis: Basis, proposals: Mapping[str, Any]) -> bool:
    """Whether the run read every input file listed at its start (no ``max_files`` rest, no unseen input).

    Only then may its recorded fingerprint describe the inputs as it leaves them (:func:`after_commit`).
    """
    for dataset, position in proposals.items():
        if dataset not in basis.listings:
            return False
        if not isinstance(position, Mapping) or position.get("kind") != "files":
            continue
        read = position.get("files") or {}
        if any(read.get(path) != meta for path, meta in basis.listings[dataset].items()):
            return False
    return True


def after_commit(basis: Basis, state_after: Mapping[str, Any]) -> Basis:
    """The basis with each input's committed position as the run leaves it (same files as at its start).

    A next run that finds exactly these files and positions has nothing new to read and is skipped.
    """
    parts = dict(basis.parts)
    for name, listing in basis.listings.items():
        parts[f"input:{name}"] = fp.digest({"files": listing, "position": state_after.get(name)})
    return Basis(parts=parts, listings=basis.listings, blockers=list(basis.blockers))


# -- explaining ------------------------------------------------------------------------------------
def changes(parts: Mapping[str, str], prior: Prior) -> list[dict[str, str]]:
    """Each part that differs from ``prior``'s: ``{"part", "change": changed|added|removed, "text"}``."""
    old = prior.parts
    if old and "pipeline" not in old:
        return [{"part": "*", "change": "changed",
                 "text": "what nbpipe fingerprints changed (it now also covers configuration, contracts, suites "
                         "and project modules)"}]
    found: list[dict[str, str]] = []
    for part in sorted(set(parts) | set(old), key=_rank):
        if parts.get(part) == old.get(part):
            continue
        change = "added" if part not in old else "removed" if part not in parts else "changed"
        if part == "key" and change != "changed":
            continue  # a secret parameter came or went: the params part says so
        found.append({"part": part, "change": change, "text": _text(part, change, prior.run_id)})
    return found


def explain(found: list[dict[str, str]], prior: Prior | None, *, limit: int = 3) -> str:
    """One line saying why a run is not up to date."""
    if prior is None:
        return "no earlier successful run to compare with"
    texts = [c["text"] for c in found]
    if not texts:
        return f"the inputs cannot be compared with run {prior.run_id}"
    shown = "; ".join(texts[:limit]) + (f"; and {len(texts) - limit} more" if len(texts) > limit else "")
    return f"{shown} since run {prior.run_id}"


def _rank(part: str) -> tuple[int, str]:
    kind = part.split(":", 1)[0]
    return (_ORDER.index(kind) if kind in _ORDER else len(_ORDER), part)


def _text(part: str, change: str, since: str) -> str:
    kind, _, name = part.partition(":")
    if kind == "key":
        return f"secret values were fingerprinted with another key (run {since} ran on another machine?)"
    what = {
        "notebook": "notebook code", "params": "parameters", "pipeline": "the pipeline's nbpipe.yaml entry",
        "profile": "the profile or mode", "dataset": f"nbpipe.yaml entry of dataset `{name}`",
        "contract": f"contract of dataset `{name}`", "suite": f"suite `{name}`",
        "module": f"project module `{name}`", "input": f"input `{name}`",
    }.get(kind, f"`{part}`")
    verb = {"changed": "changed", "added": "is new", "removed": "is gone"}[change]
    if kind == "input" and change == "changed":
        verb = "changed (files or committed position)"
    if kind == "module" and change == "removed":
        verb = "is no longer imported"
    return f"{what} {verb}"
