"""What the machine running the tests offers: CI detection, skip-or-fail, free loopback ports."""

from __future__ import annotations

import os
import socket
from typing import NoReturn

import pytest

LOOPBACK = "127.0.0.1"


def in_ci() -> bool:
    """Whether the tests run under CI (``CI`` set to ``1``, ``true`` or ``yes``, any case).

    Under CI a missing dependency (PostgreSQL, Chromium …) is a failure, not a skip: CI must provide it.
    """
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def unavailable(reason: str) -> NoReturn:
    """Skip the test because ``reason`` (say how to install what is missing); fail instead under CI."""
    if in_ci():
        pytest.fail(f"{reason}; CI must provide it", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (it may be taken by the time you bind it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])
