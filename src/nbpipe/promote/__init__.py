"""Promotion: an explore run's observations become contracts, suites and typed parameters.

:func:`promote` is the service behind ``nbpipe promote``; :mod:`.lint` checks notebooks,
:mod:`.configedit` edits ``nbpipe.yaml`` in place, :mod:`.scaffold` writes ``nbpipe init``'s project.
"""

from nbpipe.promote.service import PromoteResult, data_drift, promote

__all__ = ["PromoteResult", "data_drift", "promote"]
