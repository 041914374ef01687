"""great-expectations fallback: validate any expectation with GX 1.x itself.

Used for expectation types (or kwargs, dtypes) the fast paths do not mirror, and as the
reference in equivalence tests. An ephemeral data context (no files) is built once per
process, with one Spark and one pandas data source, each a whole-DataFrame batch definition.
GX is imported lazily so a suite of fast-path expectations never pays its import cost.
"""

from __future__ import annotations

import threading
from typing import Any

from nbpipe.quality import gx_model
from nbpipe.quality.results import ExpectationResult, error_result, invalid_result

_LOCK = threading.Lock()
_STATE: dict[str, Any] = {}
_INDEX_KEY = "_nbpipe_index"


def register_extensions() -> None:
    """Register nbpipe's own expectation types with GX (needed to load suites that use them)."""
    import nbpipe.quality._gx_extensions  # noqa: F401  (registers on import)


def is_spark_frame(df: Any) -> bool:
    """True for classic and Spark Connect DataFrames, without importing pyspark."""
    module = type(df).__module__
    return module.startswith("pyspark.") and hasattr(df, "sparkSession")


def _batch_definition(kind: str) -> Any:
    with _LOCK:
        if "context" not in _STATE:
            import great_expectations as gx
            from great_expectations.data_context.types.base import ProgressBarsConfig
            from great_expectations.execution_engine import pandas_execution_engine

            # GX hashes every pandas frame < 1 GB to name batches; that costs ~0.6 s per million rows.
            pandas_execution_engine.HASH_THRESHOLD = 0
            register_extensions()
            context = gx.get_context(mode="ephemeral")
            context.variables.progress_bars = ProgressBarsConfig(globally=False)
            _STATE["context"] = context
        key = f"bd_{kind}"
        if key not in _STATE:
            context = _STATE["context"]
            if kind == "spark":
                source = context.data_sources.add_spark("nbpipe_spark")
            else:
                source = context.data_sources.add_pandas("nbpipe_pandas")
            asset = source.add_dataframe_asset("frame")
            _STATE[key] = asset.add_batch_definition_whole_dataframe("whole")
        return _STATE[key]


def to_gx_suite(suite: dict[str, Any]) -> Any:
    """Build a ``great_expectations.ExpectationSuite`` from a suite dict (as stored on disk)."""
    import great_expectations as gx

    register_extensions()
    return gx.ExpectationSuite(**{k: v for k, v in suite.items() if k in (
        "name", "expectations", "suite_parameters", "meta", "notes", "id")})


def _convert(res: Any, exp: dict[str, Any]) -> ExpectationResult:
    result = dict(res.result or {})
    info = res.exception_info or {}
    exception = None
    if isinstance(info, dict) and info.get("raised_exception"):
        exception = str(info.get("exception_message") or "great-expectations raised an exception")
    elif isinstance(info, dict) and not {"raised_exception"} <= set(info):
        messages = [str(v.get("exception_message")) for v in info.values()
                    if isinstance(v, dict) and v.get("raised_exception")]
        exception = "; ".join(messages) or None
    return ExpectationResult(
        expectation_type=exp["type"],
        kwargs=dict(exp["kwargs"]),
        success=bool(res.success),
        unexpected_count=result.get("unexpected_count"),
        unexpected_percent=result.get("unexpected_percent"),
        partial_unexpected_list=list(result.get("partial_unexpected_list") or []),
        observed_value=result.get("observed_value"),
        element_count=result.get("element_count"),
        missing_count=result.get("missing_count"),
        exception=exception,
        engine="native",
        meta=dict(exp.get("meta") or {}),
    )


def validate(df: Any, expectations: list[dict[str, Any]], *, suite_name: str = "nbpipe",
             result_format: str = "SUMMARY") -> list[ExpectationResult]:
    """Validate ``expectations`` on a Spark or pandas DataFrame with great-expectations.

    Returns one result per expectation, in order. Expectations GX refuses to build are
    returned as failed ``invalid`` results carrying GX's reason instead of being dropped.
    """
    if not expectations:
        return []
    import great_expectations as gx

    definition = _batch_definition("spark" if is_spark_frame(df) else "pandas")
    built: list[Any] = []
    out: list[ExpectationResult | None] = [None] * len(expectations)
    for i, exp in enumerate(expectations):
        meta = {**(exp.get("meta") or {}), _INDEX_KEY: i}
        try:
            built.append(gx_model.build_object(exp, meta))
        except Exception as exc:  # GX raises many types for bad configurations
            out[i] = invalid_result(exp, gx_model.refusal(exp, exc), engine="native")
    if built:
        suite = gx.ExpectationSuite(name=suite_name, expectations=built)
        batch = definition.get_batch(batch_parameters={"dataframe": df})
        validation = batch.validate(suite, result_format=result_format)
        for res in validation.results:
            index = (res.expectation_config.meta or {}).get(_INDEX_KEY)
            if isinstance(index, int) and 0 <= index < len(expectations):
                out[index] = _convert(res, expectations[index])
    missing = "great-expectations returned no result"
    return [r if r is not None else error_result(exp, missing, engine="native")
            for r, exp in zip(out, expectations)]
