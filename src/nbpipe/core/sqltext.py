"""Spark SQL text for projections built by nbpipe: quoted identifiers and string literals.

nbpipe builds its per-row projections (bad-row flags, reasons, quarantine columns) as SQL text for
``selectExpr``: one call per projection, where each Column built in Python costs several round
trips to a classic session's JVM.
"""

from __future__ import annotations


def sql_name(name: str) -> str:
    """``name`` as a quoted Spark SQL identifier (backticks doubled)."""
    return "`" + name.replace("`", "``") + "`"


def sql_text(text: str) -> str:
    """``text`` as a Spark SQL string literal (backslashes and quotes escaped)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
