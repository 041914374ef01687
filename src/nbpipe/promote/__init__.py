"""Promotion: an explore run's observations become contracts, suites and typed parameters.

:func:`promote` is the service behind ``nbpipe promote``; :mod:`.lint` checks notebooks,
:mod:`.configedit` edits ``nbpipe.yaml`` in place, :mod:`.scaffold` writes ``nbpipe init``'s project.
"""

from nbpipe.promote.drift import DataDrift, data_drift
from nbpipe.promote.model import PromoteResult
from nbpipe.promote.service import promote

__all__ = ["DataDrift", "PromoteResult", "data_drift", "promote"]
