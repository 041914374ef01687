"""Quality checkpoints: great-expectations suites as inline checks and fast production gates.

``run_checkpoint(ctx, df, suite)`` (what ``ctx.check`` calls) validates a Spark or pandas
DataFrame against ``<project>/expectations/<suite>.json``. Common expectations run on nbpipe's
fast paths (:mod:`.fast_spark`, :mod:`.fast_pandas`) with GX-identical results; everything
else is validated by great-expectations itself (:mod:`.native`). :mod:`.profile` suggests a
suite from a data profile for ``nbpipe promote``.
"""

from nbpipe.quality.checkpoint import register_frame, run_checkpoint, unregister_frame, validate_frame
from nbpipe.quality.profile import merge_suites, profile_dataframe, suggest_suite
from nbpipe.quality.results import CheckResult, ExpectationResult
from nbpipe.quality.suites import FK_TYPE, load_suite, new_suite, save_suite, suite_path

__all__ = [
    "FK_TYPE",
    "CheckResult",
    "ExpectationResult",
    "load_suite",
    "merge_suites",
    "new_suite",
    "profile_dataframe",
    "register_frame",
    "run_checkpoint",
    "save_suite",
    "suggest_suite",
    "suite_path",
    "unregister_frame",
    "validate_frame",
]
