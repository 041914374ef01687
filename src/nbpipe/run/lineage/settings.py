"""Whether a project emits OpenLineage events, where to, and under which namespace.

Resolved without importing ``openlineage`` (a project with lineage off pays nothing). In order:

1. ``lineage: {enabled: false}`` or ``OPENLINEAGE_DISABLED=true``: off.
2. ``lineage: {transport: ...}`` in nbpipe.yaml: that transport.
3. The client's standard way: ``OPENLINEAGE_URL`` (with ``OPENLINEAGE_ENDPOINT``/``OPENLINEAGE_API_KEY``),
   ``OPENLINEAGE_CONFIG`` (a YAML file), or ``openlineage.yml`` in the project or the current directory.
4. Nothing configured: off (``enabled: true`` with nothing configured is a :class:`ConfigError`).

Values written ``env:VAR`` in the transport are resolved from the environment only when a
client is built (:func:`resolved_transport`), never stored or printed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from nbpipe.core.config import CONFIG_FILE, Project
from nbpipe.core.lineage_config import DEFAULT_TIMEOUT_S, LineageTransport, redact_url
from nbpipe.errors import ConfigError

ENV_URL = "OPENLINEAGE_URL"
ENV_CONFIG = "OPENLINEAGE_CONFIG"
ENV_DISABLED = "OPENLINEAGE_DISABLED"
CLIENT_FILE = "openlineage.yml"


@dataclass(frozen=True)
class LineageSettings:
    """Where events go: ``transport`` is openlineage-python's transport config (``env:`` unresolved)."""

    namespace: str
    transport: dict[str, Any]
    source: str  # where the transport came from, for messages

    @property
    def endpoint(self) -> str:
        """The destination without credentials, for warnings and the record."""
        kind = self.transport.get("type", "?")
        if kind == "http":
            return redact_url(str(self.transport.get("url", ""))).rstrip("/") + "/" + str(
                self.transport.get("endpoint") or "api/v1/lineage").lstrip("/")
        if kind == "file":
            return f"file {self.transport.get('log_file_path')}"
        if kind == "kafka":
            servers = str((self.transport.get("config") or {}).get("bootstrap.servers", "?"))
            return f"kafka://{servers.split('@')[-1]}/{self.transport.get('topic')}"
        return str(kind)

    @property
    def timeout_s(self) -> float:
        return float(self.transport.get("timeout") or DEFAULT_TIMEOUT_S)


def resolve(project: Project, environ: Mapping[str, str] | None = None) -> LineageSettings | None:
    """The project's lineage settings, or None when lineage is off."""
    env = os.environ if environ is None else environ
    cfg = project.config.lineage
    if cfg.enabled is False or env.get(ENV_DISABLED, "").strip().lower() == "true":
        return None
    namespace = cfg.namespace or project.config.project
    if cfg.transport is not None:
        return LineageSettings(namespace, cfg.transport.client_config(), f"lineage.transport in {CONFIG_FILE}")
    found = _standard(project, env)
    if found is None:
        if cfg.enabled:
            raise ConfigError(
                f"lineage.enabled is true in {project.source or CONFIG_FILE} but no transport is configured",
                hint="add lineage: {transport: {type: http, url: http://host:5000}}, set OPENLINEAGE_URL, "
                f"or write an {CLIENT_FILE}",
            )
        return None
    transport, source = found
    return LineageSettings(namespace, transport, source)


def _standard(project: Project, env: Mapping[str, str]) -> tuple[dict[str, Any], str] | None:
    """The transport configured the openlineage-python way, validated like nbpipe.yaml's."""
    for path, source in ((env.get(ENV_CONFIG), ENV_CONFIG), (str(project.root / CLIENT_FILE), CLIENT_FILE),
                         (str(Path.cwd() / CLIENT_FILE), CLIENT_FILE)):
        if path and Path(path).is_file():
            return _from_file(Path(path), source), f"{source} ({path})"
        if path and source == ENV_CONFIG:
            raise ConfigError(f"{ENV_CONFIG} names {path}, which is not a file",
                              hint=f"point {ENV_CONFIG} at an openlineage.yml, or unset it")
    url = env.get(ENV_URL)
    if url:
        transport: dict[str, Any] = {"type": "http", "url": url}
        if env.get("OPENLINEAGE_ENDPOINT"):
            transport["endpoint"] = env["OPENLINEAGE_ENDPOINT"]
        if env.get("OPENLINEAGE_API_KEY"):
            transport["auth"] = {"type": "api_key", "apiKey": "env:OPENLINEAGE_API_KEY"}
        return _validated(transport, ENV_URL), ENV_URL
    return None


def _from_file(path: Path, source: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{source} file {path} is not readable YAML ({type(exc).__name__})",
                          hint="fix the file or remove it") from None
    transport = data.get("transport") if isinstance(data, dict) else None
    if not isinstance(transport, dict):
        raise ConfigError(f"{source} file {path} has no 'transport:' mapping",
                          hint="e.g. transport: {type: http, url: http://host:5000}")
    return _validated(transport, f"transport in {path}")


def _validated(transport: dict[str, Any], where: str) -> dict[str, Any]:
    from pydantic import ValidationError

    try:
        return LineageTransport.model_validate(transport).client_config()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'transport'}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors())
        raise ConfigError(f"{where} is not a valid OpenLineage transport: {problems}",
                          hint="see the OpenLineage section of the README for the keys of each transport") from None


def resolved_transport(transport: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``transport`` with every ``env:VAR`` string replaced by the variable's value (for the client only)."""
    env = os.environ if environ is None else environ

    def value(v: Any) -> Any:
        if isinstance(v, str) and v.startswith("env:"):
            name = v[4:]
            if name not in env:
                raise ConfigError(f"the lineage transport reads the environment variable {name}, which is not set",
                                  hint=f"export {name}, or remove it from the lineage transport")
            return env[name]
        if isinstance(v, Mapping):
            return {k: value(x) for k, x in v.items()}
        return v

    return {k: value(v) for k, v in transport.items()}
