"""Result objects of a quality checkpoint, their JSON form and their rich/text displays.

``ExpectationResult`` carries the fields great-expectations reports per expectation
(``success``, ``unexpected_count``, ``unexpected_percent``, ``partial_unexpected_list``,
``observed_value``) whichever engine computed them; ``CheckResult`` is the whole suite, with
GX-style ``statistics``, ``to_dict()``, ``_repr_html_`` for Jupyter and a text form. In explore
mode at a Jupyter kernel it shows as a widget (``nbpipe.quality._widgets``), once per cell
(:class:`~nbpipe.data._display.ShownOnce`).
"""

from __future__ import annotations

import datetime as dt
import decimal
import html
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nbpipe.data._display import ShownOnce
from nbpipe.quality.suites import describe

MAX_EXAMPLES = 20
EVENT_EXAMPLES = 5
MAX_TEXT = 120


def jsonable(value: Any, *, max_text: int | None = None) -> Any:
    """Convert ``value`` to plain JSON types (NaN/inf become None, tuples lists, dates ISO text)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return value if max_text is None or len(value) <= max_text else value[: max_text - 1] + "…"
    if isinstance(value, decimal.Decimal):
        return jsonable(float(value))
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v, max_text=max_text) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v, max_text=max_text) for v in value]
    if isinstance(value, bytes):
        return jsonable(value.decode("utf-8", "replace"), max_text=max_text)
    asdict = getattr(value, "asDict", None)  # pyspark Row
    if callable(asdict):
        return jsonable(asdict(), max_text=max_text)
    isoformat = getattr(value, "isoformat", None)  # pandas Timestamp
    if callable(isoformat):
        try:
            return None if value != value else isoformat()
        except (TypeError, ValueError):
            return str(value)
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        try:
            return jsonable(item(), max_text=max_text)
        except (TypeError, ValueError):
            pass
    return str(value)


@dataclass
class ExpectationResult:
    """The outcome of one expectation, in great-expectations' vocabulary."""

    expectation_type: str
    kwargs: dict[str, Any]
    success: bool
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    partial_unexpected_list: list[Any] = field(default_factory=list)
    observed_value: Any = None
    element_count: int | None = None
    missing_count: int | None = None
    exception: str | None = None
    engine: str = "fast"
    meta: dict[str, Any] = field(default_factory=dict)
    #: great-expectations refuses to build the expectation (``exception`` says why); it failed.
    invalid: bool = False

    @property
    def label(self) -> str:
        """Short human name, e.g. ``expect_column_values_to_be_unique(id)``."""
        return describe({"type": self.expectation_type, "kwargs": self.kwargs})

    def to_dict(self, *, max_examples: int = MAX_EXAMPLES, max_text: int | None = None) -> dict[str, Any]:
        """JSON-safe dict with the run.json ``checks[].results[]`` fields."""
        return {
            "expectation_type": self.expectation_type,
            "kwargs": jsonable(self.kwargs, max_text=max_text),
            "success": bool(self.success),
            "unexpected_count": self.unexpected_count,
            "unexpected_percent": jsonable(self.unexpected_percent),
            "partial_unexpected_list": jsonable(
                self.partial_unexpected_list[:max_examples], max_text=max_text),
            "observed_value": jsonable(self.observed_value, max_text=max_text),
            "element_count": self.element_count,
            "missing_count": self.missing_count,
            "exception": self.exception,
            "engine": self.engine,
            "invalid": self.invalid,
        }


@dataclass
class CheckResult(ShownOnce):
    """A validated suite: overall success, per-expectation results and GX-style statistics."""

    suite: str
    results: list[ExpectationResult]
    dataset: str | None = None
    mode: str = "explore"
    gate: str = "explore"
    duration_s: float = 0.0
    rejected_rows: int | None = None
    notes: list[str] = field(default_factory=list)
    passing: Any = field(default=None, repr=False, compare=False)
    #: Whether the data may go on: every failure was quarantined (or nothing failed). None until
    #: the checkpoint decides; then the runner's gate and the record read it, never re-derive it.
    gate_passed: bool | None = None

    @property
    def success(self) -> bool:
        """True when every expectation succeeded."""
        return all(r.success for r in self.results)

    @property
    def rows(self) -> int | None:
        """The rows checked, as the suite's counts saw them (None when no expectation counted rows)."""
        return next((r.element_count for r in self.results if r.element_count is not None), None)

    @property
    def failed(self) -> list[ExpectationResult]:
        """The expectations that did not succeed."""
        return [r for r in self.results if not r.success]

    @property
    def statistics(self) -> dict[str, Any]:
        """``evaluated``, ``successful``, ``unsuccessful`` and ``success_percent`` like GX."""
        total = len(self.results)
        ok = sum(1 for r in self.results if r.success)
        return {
            "evaluated": total,
            "successful": ok,
            "unsuccessful": total - ok,
            "success_percent": (ok / total * 100.0) if total else None,
        }

    def __bool__(self) -> bool:
        return self.success

    def to_dict(self, *, max_examples: int = MAX_EXAMPLES, max_text: int | None = None) -> dict[str, Any]:
        """JSON-safe dict matching run.json's ``checks[]`` entry."""
        return {
            "suite": self.suite,
            "dataset": self.dataset,
            "success": self.success,
            "gate": self.gate,
            "statistics": self.statistics,
            "results": [r.to_dict(max_examples=max_examples, max_text=max_text) for r in self.results],
            "rejected_rows": self.rejected_rows,
            "gate_passed": self.success if self.gate_passed is None else self.gate_passed,
            "notes": list(self.notes),
            "duration_s": round(self.duration_s, 4),
        }

    def failure_summary(self) -> str:
        """One line per failed expectation with its counts."""
        lines = []
        for r in self.failed:
            if r.invalid:
                detail = f"invalid: {(r.exception or '').splitlines()[0][:400]}"
            elif r.exception:
                detail = f"error: {r.exception.splitlines()[0][:200]}"
            elif r.unexpected_count is not None:
                pct = f" ({r.unexpected_percent:.4g}%)" if r.unexpected_percent is not None else ""
                examples = ", ".join(repr(jsonable(v, max_text=40)) for v in r.partial_unexpected_list[:3])
                detail = f"{r.unexpected_count} unexpected{pct}" + (f", e.g. {examples}" if examples else "")
            else:
                detail = f"observed {jsonable(r.observed_value, max_text=60)!r}"
            lines.append(f"  - {r.label}: {detail}")
        return "\n".join(lines)

    def __str__(self) -> str:
        stats = self.statistics
        head = (
            f"{'PASSED' if self.success else 'FAILED'}: suite {self.suite!r}"
            f"{f' on {self.dataset!r}' if self.dataset else ''} — {stats['successful']}/{stats['evaluated']}"
            " expectations met"
        )
        if self.rejected_rows:
            head += f"; {self.rejected_rows} rows quarantined"
        rows = [f"  note: {n}" for n in self.notes]
        for r in self.results:
            mark = "ok  " if r.success else ("BAD " if r.invalid else "FAIL")
            if r.unexpected_count is not None:
                pct = f" {r.unexpected_percent:.4g}%" if r.unexpected_percent is not None else ""
                detail = f"{r.unexpected_count} unexpected{pct}"
            elif r.exception:
                detail = ("invalid: " if r.invalid else "error: ") + r.exception.splitlines()[0][:300]
            else:
                detail = f"observed {jsonable(r.observed_value, max_text=60)!r}"
            rows.append(f"  [{mark}] {r.label}: {detail}")
        return "\n".join([head, *rows])

    def display_parts(self) -> tuple[str, str, Callable[[], Any] | None]:
        """Text, static HTML and the widget (a table plus a picker for failing examples)."""
        def widget() -> Any:
            from nbpipe.quality._widgets import check_widget

            return check_widget(self)

        return str(self), self._repr_html_(), widget

    def _repr_html_(self) -> str:
        esc = html.escape
        ok = self.success
        stats = self.statistics
        title = (
            f"<strong style='color:{'#1a7f37' if ok else '#cf222e'}'>"
            f"{'✔ passed' if ok else '✘ failed'}</strong>"
            f" suite <code>{esc(self.suite)}</code>"
            + (f" on <code>{esc(self.dataset)}</code>" if self.dataset else "")
            + f" — {stats['successful']}/{stats['evaluated']} expectations met"
            + (f", {self.rejected_rows} rows quarantined" if self.rejected_rows else "")
        )
        notes = "".join(f"<p><em>{esc(n)}</em></p>" for n in self.notes)
        body = []
        for r in self.results:
            color = "#1a7f37" if r.success else "#cf222e"
            count = "" if r.unexpected_count is None else str(r.unexpected_count)
            pct = "" if r.unexpected_percent is None else f"{r.unexpected_percent:.4g}%"
            if r.exception:
                examples = esc(r.exception.splitlines()[0][:400])
            elif r.partial_unexpected_list:
                shown = r.partial_unexpected_list[:5]
                examples = ", ".join(esc(repr(jsonable(v, max_text=60))) for v in shown)
            else:
                examples = ""
            observed = "" if r.observed_value is None else esc(repr(jsonable(r.observed_value, max_text=60)))
            mark = "✔" if r.success else ("✘ invalid" if r.invalid else "✘")
            body.append(
                f"<tr><td style='color:{color}'>{mark}</td>"
                f"<td><code>{esc(r.expectation_type)}</code></td>"
                f"<td>{esc(_args(r.kwargs))}</td><td style='text-align:right'>{count}</td>"
                f"<td style='text-align:right'>{pct}</td><td>{observed}</td><td>{examples}</td>"
                f"<td>{esc(r.engine)}</td></tr>"
            )
        return (
            f"<div class='nbpipe-check'><p>{title}</p>{notes}<table>"
            "<thead><tr><th></th><th>expectation</th><th>arguments</th><th>unexpected</th><th>%</th>"
            "<th>observed</th><th>examples</th><th>engine</th></tr></thead><tbody>"
            + "".join(body)
            + "</tbody></table></div>"
        )


def _args(kwargs: dict[str, Any]) -> str:
    shown = {k: v for k, v in kwargs.items() if k not in ("result_format", "batch_id", "catch_exceptions")}
    text = ", ".join(f"{k}={jsonable(v, max_text=40)!r}" for k, v in shown.items())
    return text if len(text) <= 200 else text[:199] + "…"


def mostly_of(kwargs: dict[str, Any]) -> float:
    """The ``mostly`` fraction of an expectation (1.0 when absent)."""
    value = kwargs.get("mostly")
    return 1.0 if value is None else float(value)


def map_result(
    exp: dict[str, Any],
    *,
    total: int,
    considered: int | None,
    unexpected: int,
    examples: list[Any],
    engine: str = "fast",
) -> ExpectationResult:
    """Build a column-map result from counts exactly as GX's ``_format_map_output`` does.

    Args:
        exp: The expectation (``type``, ``kwargs``).
        total: Rows in the batch (GX ``element_count``).
        considered: Rows in the domain (non-null / not ignored); None for ``not_be_null``, whose
            percentage is taken over all rows and which reports no ``missing_count``.
        unexpected: Rows in the domain that broke the rule.
        examples: Up to :data:`MAX_EXAMPLES` offending values.
        engine: ``fast`` or ``native``.
    """
    mostly = mostly_of(exp["kwargs"])
    if considered is None:
        success = True if total == 0 else (total - unexpected) / total >= mostly
        percent = unexpected / total * 100 if total > 0 else None
        missing = None
    else:
        if total == 0 or considered == 0:
            success = True
        else:
            success = (float(considered) - float(unexpected)) / float(considered) >= mostly
        percent = unexpected / considered * 100 if total > 0 and considered > 0 else None
        missing = total - considered
    return ExpectationResult(
        expectation_type=exp["type"],
        kwargs=dict(exp["kwargs"]),
        success=bool(success),
        unexpected_count=int(unexpected),
        unexpected_percent=percent,
        partial_unexpected_list=list(examples[:MAX_EXAMPLES]),
        element_count=int(total),
        missing_count=missing,
        engine=engine,
        meta=dict(exp.get("meta") or {}),
    )


def value_between(value: Any, kwargs: dict[str, Any]) -> bool:
    """``min_value <= value <= max_value`` with GX's ``strict_min``/``strict_max`` handling."""
    lo, hi = kwargs.get("min_value"), kwargs.get("max_value")
    if lo is not None and (value <= lo if kwargs.get("strict_min") else value < lo):
        return False
    return not (hi is not None and (value >= hi if kwargs.get("strict_max") else value > hi))


def row_count_result(exp: dict[str, Any], rows: int, engine: str = "fast") -> ExpectationResult:
    """Result of ``expect_table_row_count_to_be_between`` for ``rows`` rows."""
    return ExpectationResult(
        expectation_type=exp["type"],
        kwargs=dict(exp["kwargs"]),
        success=value_between(rows, exp["kwargs"]),
        observed_value=int(rows),
        engine=engine,
        meta=dict(exp.get("meta") or {}),
    )


def error_result(exp: dict[str, Any], message: str, engine: str = "fast") -> ExpectationResult:
    """A failed result carrying an error message (GX's ``exception_info``)."""
    return ExpectationResult(
        expectation_type=exp["type"], kwargs=dict(exp["kwargs"]), success=False, exception=message,
        engine=engine, meta=dict(exp.get("meta") or {}),
    )


def invalid_result(exp: dict[str, Any], message: str, engine: str = "fast") -> ExpectationResult:
    """A failed result for an expectation great-expectations refuses to build (``message`` says why)."""
    result = error_result(exp, message, engine)
    result.invalid = True
    return result
