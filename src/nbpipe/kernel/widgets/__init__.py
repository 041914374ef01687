"""The notebook panel (``ctx.panel()``): explore, run in production and promote with ipywidgets.

Kernel side: it never imports the runner, the store or papermill; every action is an ``nbpipe``
command in a subprocess (:mod:`._cli`). :mod:`.form` is the typed parameter form (validated by
``nbpipe.core.params``), :mod:`.controller` runs ``nbpipe run --progress-json`` without blocking
the kernel, :mod:`.views` lists recent runs and previews/applies ``nbpipe promote``, :mod:`.links`
points at reports JupyterLab opens, :mod:`.panel` puts them together.
"""

from nbpipe.kernel.widgets.panel import Panel, panel

__all__ = ["Panel", "panel"]
