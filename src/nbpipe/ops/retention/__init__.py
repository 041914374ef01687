"""Retention: ``nbpipe gc`` deletes expired partitions, quarantines, runs and dead runs' staging.

:func:`make_plan` decides (read-only; the dry run prints it), :func:`apply_plan` deletes, crash-safely
and under the pipelines' locks.
"""

from nbpipe.ops.retention.apply import GC_POINTS, Outcome, apply_plan, delete_units, gc_lock
from nbpipe.ops.retention.plan import Item, Plan, make_plan

__all__ = ["GC_POINTS", "Item", "Outcome", "Plan", "apply_plan", "delete_units", "gc_lock", "make_plan"]
