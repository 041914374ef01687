"""Imported by a kernel started ahead (``nbpipe.run.kernelpool``): pays the notebook's heavy imports early.

Importing binds no name in the notebook; a module that cannot be imported here fails later, in the
cell that needs it, exactly as it would without the preload.
"""

from __future__ import annotations

import contextlib
import importlib

for _module in ("nbpipe.kernel.context", "pyspark.sql", "pyspark.sql.connect.session", "pyspark.sql.functions"):
    with contextlib.suppress(Exception):
        importlib.import_module(_module)
