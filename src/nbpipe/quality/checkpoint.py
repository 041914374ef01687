"""The quality checkpoint: validate a DataFrame against a suite, then display, gate or quarantine.

This module orders the steps of ``ctx.check(df, suite)``: load the suite, run the engine's
fast path, hand whatever it cannot mirror to great-expectations, merge the results in suite
order, optionally divert failing rows to ``<dataset>__rejected``, record a ``check`` event and
apply the pipeline's ``quality`` gate (prod) or show the rich table inline (explore).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nbpipe.core import events
from nbpipe.core.layout import REASON, RUN_ID_COLUMN, explore_root, quarantine_name, quarantine_unit
from nbpipe.errors import ConfigError, NbpipeError, QualityGateError
from nbpipe.quality import gx_model
from nbpipe.quality import suites as S
from nbpipe.quality.native import is_spark_frame
from nbpipe.quality.results import EVENT_EXAMPLES, CheckResult, ExpectationResult

if TYPE_CHECKING:  # pragma: no cover
    from nbpipe.core.protocol import RunScope
    from nbpipe.data.small import Engine, Materialized

_FRAMES: dict[str, Any] = {}
_FRAMES_LOCK = threading.Lock()


def register_frame(name: str, df: Any) -> None:
    """Make ``df`` resolvable as dataset ``name`` for foreign-key expectations (before the catalog)."""
    with _FRAMES_LOCK:
        _FRAMES[name] = df


def unregister_frame(name: str) -> None:
    """Forget a frame registered with :func:`register_frame`."""
    with _FRAMES_LOCK:
        _FRAMES.pop(name, None)


def _lookup(ctx: RunScope, frames: Mapping[str, Any] | None) -> Any:
    def lookup(name: str) -> Any:
        if frames and name in frames:
            return frames[name]
        with _FRAMES_LOCK:
            if name in _FRAMES:
                return _FRAMES[name]
        from nbpipe.data.read import read_dataset

        return read_dataset(ctx, name)

    return lookup


def _is_pandas(df: Any) -> bool:
    return type(df).__module__.startswith("pandas.") and hasattr(df, "columns") and hasattr(df, "iloc")


def validate_frame(df: Any, suite: dict[str, Any], *, lookup: Any = None,
                   examples: bool = True) -> list[ExpectationResult]:
    """Validate ``df`` (Spark or pandas) against a suite dict: fast path first, GX for the rest.

    Every expectation is first built through great-expectations' own model
    (:func:`nbpipe.quality.gx_model.prepare`); one GX refuses fails as ``invalid``.
    """
    return validate_prepared(df, gx_model.prepare(suite), lookup=lookup, examples=examples)


def _fast_results(df: Any, prepared: gx_model.Prepared, lookup: Any,
                  examples: bool) -> list[ExpectationResult | None]:
    """The fast path's result per expectation on a Spark or pandas frame (None: GX validates it)."""
    if is_spark_frame(df):
        from nbpipe.quality import fast_spark

        return fast_spark.validate(df, prepared.effective, lookup, examples=examples)
    if _is_pandas(df):
        from nbpipe.quality import fast_pandas

        return fast_pandas.validate(df, prepared.effective, lookup)[0]
    raise NbpipeError(
        f"quality check of suite {prepared.name!r}: expected a Spark or pandas DataFrame, "
        f"got {type(df).__module__}.{type(df).__name__}",
        hint="pass the DataFrame itself (not a path or a list); convert with pd.DataFrame(...) if needed",
    )


def validate_prepared(df: Any, prepared: gx_model.Prepared, *, lookup: Any = None,
                      examples: bool = True, fast: list[ExpectationResult | None] | None = None,
                      ) -> list[ExpectationResult]:
    """Validate ``df`` against a suite built by :func:`nbpipe.quality.gx_model.prepare`.

    The fast paths compile the kwargs as GX built them; what they cannot mirror goes to GX with
    the kwargs as written. Every result carries the kwargs as written. ``fast``: the fast path's
    results already computed (by the in-process engine on the materialized frame).
    """
    if fast is None:
        fast = _fast_results(df, prepared, lookup, examples)
    for i in prepared.errors:
        fast[i] = prepared.invalid(i)
    todo = [i for i, r in enumerate(fast) if r is None]
    if todo:
        from nbpipe.quality import native

        native_results = native.validate(df, [prepared.expectations[i] for i in todo], suite_name=prepared.name)
        for i, res in zip(todo, native_results):
            fast[i] = res
    results = [r for r in fast if r is not None]
    for res, exp in zip(results, prepared.expectations):
        res.kwargs = dict(exp["kwargs"])
    return results


def _gate(ctx: RunScope) -> str:
    if not ctx.is_prod:
        return "explore"
    if ctx.pipeline is None:
        return "fail"
    return ctx.project.pipeline(ctx.pipeline).quality


def _quarantinable(result: ExpectationResult) -> bool:
    return (not result.success and result.exception is None and result.engine == "fast"
            and result.expectation_type in S.ROW_LEVEL_TYPES)


def _write_rejected(ctx: RunScope, rejected: Any, dataset: str) -> int:
    """Write rejected rows: Spark frames through ``nbpipe.data.write.write_rejected``, pandas to staging."""
    if is_spark_frame(rejected):
        from nbpipe.data.write import write_rejected

        return int(write_rejected(ctx, rejected, dataset))
    name = quarantine_name(dataset)
    root = Path(ctx.staging_dir) if ctx.is_prod else explore_root(ctx.project)
    path = quarantine_unit(root, dataset, ctx.run_id)
    path.mkdir(parents=True, exist_ok=True)
    seq = len(list(path.glob("part-*.parquet")))
    target = path / f"part-{seq:05d}.parquet"
    rejected.astype({c: "string" for c in rejected.columns}).to_parquet(target, index=False)
    rows = len(rejected)
    ctx.log.emit(events.DATASET_REJECTED, dataset=name, source_dataset=dataset, rows=rows,
                 bytes=target.stat().st_size, path=str(root / name), staging_path=str(root / name),
                 partitions=[path.name], partition_by=[RUN_ID_COLUMN], format="parquet",
                 reason_column=REASON, sandbox=not ctx.is_prod, mode="overwrite_partitions")
    return rows


def _local_results(ctx: RunScope, df: Any, prepared: gx_model.Prepared,
                   lookup: Any) -> tuple[Materialized | None, list[ExpectationResult | None] | None, Engine | None]:
    """The fast-path results from the in-process engine when ``df`` is a small Spark frame.

    Returns the materialized frame, the results (None: the Spark path validates) and the path taken.
    """
    if not is_spark_frame(df):
        return None, None, None
    from nbpipe.data import small
    from nbpipe.quality import fast_arrow

    found, engine = small.materialize(ctx, df)
    if found is None:
        return None, None, engine
    try:
        results = fast_arrow.validate_local(found.table, prepared.effective, found.spark_types, lookup)
    except fast_arrow.NotLocal as exc:
        return None, None, small.Engine(small.SPARK, f"the in-process engine does not mirror it exactly: {exc}",
                                        found.rows, engine.threshold_rows)
    return found, results, engine


def _quarantine(ctx: RunScope, df: Any, prepared: gx_model.Prepared, result: CheckResult, dataset: str,
                lookup: Any, local: Materialized | None = None) -> None:
    indices = [i for i, r in enumerate(result.results) if _quarantinable(r)]
    if not indices:
        result.passing, result.rejected_rows = df, 0
        return
    expectations = prepared.effective  # split on the kwargs the counts were computed with
    if local is not None:
        from nbpipe.data import small
        from nbpipe.quality import fast_arrow, fast_spark

        passing_rows, rejected_rows = fast_arrow.split_rows(local.table, expectations, indices, lookup,
                                                            spark_types=local.spark_types)
        passing = fast_spark.split_rows(df, expectations, indices, lookup)[0]  # lazy: no Spark job
        small.remember(passing, passing_rows, local)  # a write of the passing rows needs no job either
        rejected = df.sparkSession.createDataFrame(rejected_rows) if rejected_rows.num_rows else None
        result.rejected_rows = _write_rejected(ctx, rejected, dataset) if rejected is not None else 0
        result.passing = passing
        return
    if is_spark_frame(df):
        from nbpipe.quality import fast_spark

        passing, rejected = fast_spark.split_rows(df, expectations, indices, lookup)
    else:
        from nbpipe.quality import fast_pandas

        passing, rejected = fast_pandas.split_rows(df, expectations, indices, lookup)
    result.rejected_rows = _write_rejected(ctx, rejected, dataset)
    result.passing = passing


def _display(result: CheckResult) -> None:
    """Show the result under the cell once (a widget, else HTML); the cell's value does not repeat it."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython ships with Jupyter
        return
    shell = get_ipython()
    if shell is not None and getattr(shell, "kernel", None) is not None:
        result.show()


def run_checkpoint(
    ctx: RunScope,
    df: Any,
    suite: str,
    *,
    quarantine: bool = False,
    dataset: str | None = None,
    frames: Mapping[str, Any] | None = None,
) -> CheckResult:
    """Validate ``df`` against ``expectations/<suite>.json`` and apply the run's quality policy.

    Args:
        ctx: The run context (mode, project, pipeline, event log).
        df: A Spark or pandas DataFrame.
        suite: Suite name; the file is ``<project>/expectations/<suite>.json``.
        quarantine: Write rows failing row-level expectations to ``<dataset>__rejected`` (with a
            ``_nbpipe_reason`` column) and return the passing rows as ``result.passing``; those
            failures then no longer fail the gate.
        dataset: The dataset checked (default: the suite name); names the rejected dataset.
        frames: Extra ``{name: DataFrame}`` for foreign-key expectations, before
            :func:`register_frame` and ``ctx.read``.

    Returns:
        The :class:`CheckResult` (GX-compatible fields, ``to_dict()``, rich HTML in Jupyter).

    Raises:
        QualityGateError: In prod with ``quality: fail`` when an expectation failed.
        ConfigError: The suite file is missing or malformed (in explore a missing suite only warns).
    """
    started = time.perf_counter()
    dataset = dataset or suite
    gate = _gate(ctx)
    try:
        suite_dict = S.load_suite(ctx.project.root, suite)
    except ConfigError as exc:
        if ctx.is_prod or S.suite_path(ctx.project.root, suite).exists():
            raise
        result = CheckResult(suite=suite, results=[], dataset=dataset, mode=ctx.mode, gate=gate,
                             notes=[f"{exc.message}. Nothing was checked; `nbpipe promote` suggests a suite "
                                    "from the data profile."], passing=df)
        _display(result)
        return result
    lookup = _lookup(ctx, frames)
    prepared = gx_model.prepare(suite_dict)
    local, fast, engine = _local_results(ctx, df, prepared, lookup)
    results = validate_prepared(df, prepared, lookup=lookup, fast=fast)
    result = CheckResult(suite=suite, results=results, dataset=dataset, mode=ctx.mode, gate=gate, passing=df)
    if quarantine:
        _quarantine(ctx, df, prepared, result, dataset, lookup, local)
    result.duration_s = time.perf_counter() - started
    blocking = [r for r in result.failed if not (quarantine and _quarantinable(r))]
    result.gate_passed = not blocking
    ctx.log.emit(events.CHECK, **result.to_dict(max_examples=EVENT_EXAMPLES, max_text=120),
                 **({"engine": engine.to_dict()} if engine is not None else {}))
    if not ctx.is_prod:
        _display(result)
        return result
    if blocking and gate == "fail":
        result_failed = CheckResult(suite=suite, results=blocking, dataset=dataset)
        invalid = sum(1 for r in blocking if r.invalid)
        raise QualityGateError(
            f"quality gate failed: suite {suite!r} on dataset {dataset!r}"
            f"{f' (pipeline {ctx.pipeline!r})' if ctx.pipeline else ''}: "
            f"{len(blocking)} of {len(results)} expectations failed"
            f"{f' ({invalid} invalid: great-expectations refuses them)' if invalid else ''}"
            f"\n{result_failed.failure_summary()}",
            hint=(f"fix the invalid expectations in {S.EXPECTATIONS_DIR}/{suite}.json (each line above names "
                  "the kwarg and great-expectations' reason); " if invalid else "")
            + f"fix the data upstream, or edit {S.EXPECTATIONS_DIR}/{suite}.json if the expectation is "
            "wrong, or set `quality: warn` for this pipeline in nbpipe.yaml to record failures as warnings",
        )
    return result
