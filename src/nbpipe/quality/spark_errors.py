"""Spark's refusals, caught per expectation: what Spark raises, its reason on one line, regex checks.

Spark reports a bad pattern, an out-of-range literal or a predicate that does not analyse as
a JVM error of the whole query. :mod:`.fast_spark` uses these helpers to fail only the
expectation concerned, as great-expectations does, with a message that says why.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame


def spark_errors() -> tuple[type[BaseException], ...]:
    """What Spark raises for a query it refuses, classic (py4j) or Connect."""
    from pyspark.errors import PySparkException

    try:
        from py4j.protocol import Py4JError
    except ImportError:  # pragma: no cover - a Connect-only client has no py4j
        return (PySparkException,)
    return (PySparkException, Py4JError)


_JAVA_EXCEPTION = re.compile(r"(?:[A-Za-z_$][\w$]*\.)*([A-Za-z_$][\w$]*(?:Exception|Error)): ")


def spark_message(exc: BaseException) -> str:
    """The innermost reason of a Spark/JVM error on one line (not py4j's 'error occurred while calling')."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip() and not ln.strip().startswith("at ")]
    for line in lines:
        found = list(_JAVA_EXCEPTION.finditer(line))
        if found:
            last = found[-1]
            return f"{last.group(1)}: {line[last.end():]}"[:300]
    useful = [ln for ln in lines if not ln.startswith("An error occurred while calling")]
    return (useful or lines or [type(exc).__name__])[0][:300]


class Refused(Exception):
    """Spark cannot evaluate this expectation (the message says why)."""


def java_regex_error(df: DataFrame, regex: str) -> str | None:
    """Why Java's regex engine (what ``rlike`` uses) refuses ``regex``; None when it compiles.

    Only a classic session can ask the JVM up front; on Spark Connect a bad pattern is found when
    the aggregation fails and each rule is evaluated on its own.
    """
    try:
        jvm = df.sparkSession._jvm
    except Exception:  # Spark Connect has no JVM handle
        return None
    if jvm is None:
        return None
    try:
        jvm.java.util.regex.Pattern.compile(regex)
    except spark_errors() as exc:
        return spark_message(exc)
    return None
