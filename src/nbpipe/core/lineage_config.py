"""The ``lineage:`` block of ``nbpipe.yaml``: where OpenLineage events go, validated at load.

Pure: it names the transports of openlineage-python's config schema (``http``, ``file``,
``console``, ``kafka``) and checks their keys without importing the client, so a project with
lineage off never imports ``openlineage``. Values written ``env:VAR`` (an API key, a password)
are read from the environment when the events are sent and never stored.
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, model_validator

TransportType = Literal["http", "file", "console", "kafka"]

# Keys of each transport in openlineage-python's config (snake_case as in openlineage.yml).
_TRANSPORT_KEYS: dict[str, tuple[str, ...]] = {
    "http": ("url", "endpoint", "timeout", "verify", "auth", "compression", "custom_headers", "retry"),
    "file": ("log_file_path", "append"),
    "console": (),
    "kafka": ("topic", "config", "flush", "message_key"),
}
_REQUIRED: dict[str, tuple[str, ...]] = {"http": ("url",), "file": ("log_file_path",), "kafka": ("topic", "config")}
DEFAULT_TIMEOUT_S = 2.0


class LineageTransport(BaseModel):
    """One openlineage-python transport (``type`` plus that transport's keys)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: TransportType
    url: str | None = None
    endpoint: str | None = None
    timeout: float | None = Field(default=None, gt=0, le=60)
    verify: bool | None = None
    auth: dict[str, str] | None = None
    compression: Literal["gzip"] | None = None
    custom_headers: dict[str, str] | None = None
    retry: dict[str, Any] | None = None
    log_file_path: str | None = None
    append: bool | None = None
    topic: str | None = None
    config: dict[str, str] | None = None
    flush: bool | None = None
    message_key: str | None = None

    @model_validator(mode="after")
    def _keys_of_type(self) -> LineageTransport:
        given = {k for k, v in self.__dict__.items() if v is not None and k != "type"}
        foreign = sorted(given - set(_TRANSPORT_KEYS[self.type]))
        if foreign:
            raise ValueError(
                f"key(s) {', '.join(foreign)} do not belong to the {self.type} transport; it takes "
                f"{', '.join(_TRANSPORT_KEYS[self.type]) or 'no other keys'}"
            )
        missing = [k for k in _REQUIRED.get(self.type, ()) if k not in given]
        if missing:
            raise ValueError(f"the {self.type} transport needs {', '.join(missing)}")
        if self.type == "http":
            parts = urlsplit(str(self.url))
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(
                    f"url {redact_url(str(self.url))!r} is not an http(s) URL with a host; "
                    "e.g. http://127.0.0.1:5000 (the events go to <url>/api/v1/lineage)"
                )
        if self.type == "kafka" and "bootstrap.servers" not in (self.config or {}):
            raise ValueError("the kafka transport needs config: {bootstrap.servers: host:port}")
        return self

    def client_config(self) -> dict[str, Any]:
        """The transport as openlineage-python's ``config={"transport": ...}`` expects it (``env:`` unresolved)."""
        out: dict[str, Any] = {k: v for k, v in self.__dict__.items() if v is not None}
        if self.type == "http":
            out.setdefault("timeout", DEFAULT_TIMEOUT_S)
            # The outbox retries later: one quick try now, no backoff that would hold the run up.
            out.setdefault("retry", {"total": 0, "backoff_factor": 0})
        return out


class LineageConfig(BaseModel):
    """``lineage:`` in nbpipe.yaml. Off unless a transport is configured here or the client's standard way."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool | None = None
    namespace: str | None = Field(default=None, min_length=1, max_length=255, pattern=r"^[^\s/]+$")
    transport: LineageTransport | None = None


def redact_url(url: str) -> str:
    """``url`` without user, password, query or fragment: safe to print and record."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(unparseable URL)"
    if not parts.scheme:
        return url.split("?")[0].split("@")[-1]
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"
