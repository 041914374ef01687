"""Regenerate the fixture notebooks (one per failure mode): python tests/notebooks/make_fixtures.py."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).parent
PARAMS = 'run_date = "2013-01-01"\nlimit = 10\nratio = 0.5\nflag = False\nlabel = "hello"'
KERNEL = {
    "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
    "language_info": {"name": "python"},
}


def nb(*cells: str, params: str | None = PARAMS, title: str = "") -> nbformat.NotebookNode:
    out = [new_markdown_cell(f"# {title}")] if title else []
    if params is not None:
        out.append(new_code_cell(params, metadata={"tags": ["parameters"]}))
    out += [new_code_cell(c) for c in cells]
    book = new_notebook(cells=out, metadata=KERNEL)
    for i, cell in enumerate(book.cells):
        cell["id"] = f"cell-{i}"
    return book


FIXTURES = {
    "ok": nb(
        "import json, pathlib\nprint('run_date', run_date, type(limit).__name__, type(ratio).__name__, flag)",
        "result = {'run_date': run_date, 'limit': limit, 'ratio': ratio, 'flag': flag, 'label': label}\nresult",
        title="A trivial parameterized notebook",
    ),
    "exception": nb("x = 1", "raise ValueError('bad value in column dep_delay')", "print('never')"),
    "sys_exit": nb("import sys\nsys.exit(1)", "print('never')"),
    "os_exit": nb("print('before')", "import os\nos._exit(1)", "print('never')"),
    "endless": nb("import time\nwhile True:\n    time.sleep(0.1)", "print('never')"),
    "no_parameters": nb("print('no parameters cell here')", params=None),
    "big_output": nb(
        "import sys\nchunk = 'x' * 1023 + '\\n'\nfor _ in range(20 * 1024):\n    sys.stdout.write(chunk)",
        "print('done')",
    ),
    "non_utf8": nb(
        "import os, subprocess, sys\nsubprocess.run(['printf', 'caf\\\\351 \\\\377\\\\376 bytes\\\\n'])\n"
        "os.write(1, b'raw \\xff\\xfe\\n')\n"
        "import time; time.sleep(1)  # fd output is forwarded by a thread\n"
        "print('after \\udcff'.encode('utf-8', 'replace').decode())"
    ),
    "params_echo": nb(
        "import os\nprint('PARAM_VALUE_BEGIN')\nprint(repr(label))\nprint('PARAM_VALUE_END')\n"
        "print(sorted(os.listdir('.')))",
    ),
    "secret": nb(
        "print('using the token', api_token)\nprint('length', len(api_token))",
        params='api_token = ""\nregion = "eu"',
    ),
    "flaky": nb(
        "import os, pathlib\nmarker = pathlib.Path(os.environ['NBPIPE_RUN_DIR']) / 'flaky.count'\n"
        "n = int(marker.read_text()) if marker.exists() else 0\nmarker.write_text(str(n + 1))\n"
        "if n < 1:\n    os._exit(3)\nprint('attempt', n + 1, 'ok')",
    ),
    "fail_once": nb(
        "import pathlib\nmarker = pathlib.Path('fail_once.marker')  # beside the notebook: survives the run\n"
        "if not marker.exists():\n    marker.write_text(run_date)\n"
        "    raise RuntimeError('the first try fails; the marker is written for the next one')\n"
        "print('second try', run_date)",
        title="Fails when fail_once.marker is absent (and writes it): fails once, then succeeds",
    ),
    "slow": nb("import time\ntime.sleep(2)\nprint('slept')", "time.sleep(30)"),
    "nbpipe_api": nb(
        "import nbpipe\nctx = nbpipe.context()\nctx.metric('rows_seen', limit * 2)\n"
        "print(ctx.mode, ctx.pipeline, ctx.params['run_date'])",
    ),
    "env_echo": nb(
        "import os, sys\n"
        "print('RUN_ID', os.environ['NBPIPE_RUN_ID'])\n"
        "print('PIPELINE', os.environ['NBPIPE_PIPELINE'])\n"
        "print('SECRET_VARS', sorted(k for k in os.environ if k.startswith('NBPIPE_SECRET_')))\n"
        "print('PRELOADED', 'pyspark.sql' in sys.modules)\n"
        "print('SPARK_REMOTE', os.environ.get('NBPIPE_SPARK_REMOTE'))\n"
        "print('NAMES', sorted(n for n in dir() if 'preload' in n))\n"
        "print('LABEL', label)",
    ),
    "html_output": nb(
        "from IPython.display import HTML, display\n"
        "display(HTML('<b>bold</b><script>window.__pwned = 1</script><img src=x onerror=\"window.__pwned=2\">'))",
    ),
    "raise_nbpipe_error": nb(
        "import nbpipe\nimport nbpipe.errors\n\nctx = nbpipe.context()\n"
        "if error.startswith('foreign:'):\n"
        "    error = error.split(':', 1)[1]\n"
        "    error_class = type(error, (Exception,), {})  # a library's exception with the same name\n"
        "    error_class.__module__ = 'some_library.errors'\n"
        "else:\n"
        "    error_class = getattr(nbpipe.errors, error)",
        "raise error_class(f'{error} raised in the notebook', hint=f'the hint of {error}') "
        "if issubclass(error_class, nbpipe.errors.NbpipeError) else error_class(f'{error} raised in the notebook')",
        "print('never')",
        params='error = "NbpipeError"  # the name of a class in nbpipe.errors, or foreign:<name>',
        title="Raise the nbpipe error named by the parameter (exit-code round trip)",
    ),
}


if __name__ == "__main__":
    for name, book in FIXTURES.items():
        nbformat.write(book, HERE / f"{name}.ipynb")
    print(f"wrote {len(FIXTURES)} notebooks to {HERE}")
