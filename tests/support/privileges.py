"""Make permission bits bite in tests that run as root.

Root ignores a directory's mode bits (``CAP_DAC_OVERRIDE``), so ``chmod 555`` does not make a
warehouse read-only for it. :func:`unprivileged` is a command prefix that starts a child without
the capabilities that bypass permission checks (``setpriv`` from util-linux drops them from the
bounding set), so the child sees ``EACCES`` as any user would. For other users it is empty.
"""

from __future__ import annotations

import os
import shutil

import pytest

DAC_CAPABILITIES = "-dac_override,-dac_read_search,-fowner"


def unprivileged() -> list[str]:
    """The prefix for a child process that obeys permission bits (``[]`` when not root)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.fail("running as root needs setpriv (util-linux) to drop CAP_DAC_OVERRIDE: apt-get install util-linux")
    return [setpriv, "--bounding-set", DAC_CAPABILITIES, "--"]
