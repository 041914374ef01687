"""The static pipeline-health dashboard (``nbpipe report`` → ``runs/index.html`` and its pages).

A small self-contained site (no scripts, no network; a Content-Security-Policy that forbids both):
the overview, one page per pipeline, a cost page and a storage page. :mod:`.data` computes the
figures from bounded queries over one time window, :mod:`.charts` draws inline SVG, :mod:`.pages`
renders the templates.
"""

from nbpipe.report.dashboard.charts import chart, sparkline
from nbpipe.report.dashboard.data import HealthSource, PipelineHealth, Window, collect, cost_for_period, open_alerts
from nbpipe.report.dashboard.pages import render

__all__ = ["HealthSource", "PipelineHealth", "Window", "chart", "collect", "cost_for_period", "open_alerts",
           "render", "sparkline"]
