"""Round-trip edits of ``nbpipe.yaml`` that keep the user's comments, key order and quoting.

``nbpipe promote`` writes a pipeline's ``notebook``, ``params``, ``reads`` and ``writes`` (and
declares datasets a notebook wrote that nbpipe.yaml does not know yet) with ruamel.yaml's
round-trip mode: every other key, every comment and blank line stays where the user put it.
A key whose value does not change is not touched at all; user-written parameter settings
(``required``, ``choices``, a declared ``type`` …) always win over inferred ones. The edited
document is validated as a :class:`nbpipe.core.config.ProjectConfig` before anything is written.
"""

from __future__ import annotations

import contextlib
import difflib
import io
import os
import re
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark, YAMLError
from ruamel.yaml.tokens import CommentToken

from nbpipe.core.config import ProjectConfig
from nbpipe.errors import ConfigError

_KEY_RE = re.compile(r"^( *)[^\s#-][^#]*:\s*(#.*)?$")
_DASH_RE = re.compile(r"^( *)- ")


def _yaml(text: str = "") -> YAML:
    """A round-trip YAML that keeps quotes and writes block lists indented as ``text`` does."""
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 4096
    offset = _seq_offset(text)
    y.indent(mapping=2, sequence=offset + 2, offset=offset)
    return y


def _seq_offset(text: str) -> int:
    """How far the user's block-list dashes sit right of their key (0 or 2 in practice)."""
    previous: re.Match[str] | None = None
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        dash = _DASH_RE.match(line)
        if dash and previous is not None:
            return max(0, len(dash.group(1)) - len(previous.group(1)))
        previous = _KEY_RE.match(line)
    return 0


def _flow_seq(items: Sequence[Any]) -> CommentedSeq:
    seq = CommentedSeq(list(items))
    seq.fa.set_flow_style()
    return seq


def _flow_map(items: Mapping[str, Any]) -> CommentedMap:
    out = CommentedMap()
    for key, value in items.items():
        out[key] = value
    out.fa.set_flow_style()
    return out


class ConfigEditor:
    """Load ``nbpipe.yaml`` once, apply edits, show the diff, save atomically."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.original = self.path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read {self.path}: {exc}") from None
        self._yaml = _yaml(self.original)
        try:
            doc = self._yaml.load(self.original)
        except YAMLError as exc:
            raise ConfigError(f"{self.path} is not valid YAML: {exc}") from None
        if doc is None:
            doc = CommentedMap()
        if not isinstance(doc, CommentedMap):
            raise ConfigError(f"{self.path} must hold a mapping at the top level")
        self.doc: CommentedMap = doc
        self.notes: list[str] = []

    # -- edits --------------------------------------------------------------------------------
    def _section(self, key: str) -> CommentedMap:
        section = self.doc.get(key)
        if section is None:
            section = CommentedMap()
            with _keep_tail(self.doc):
                self.doc[key] = section
        if not isinstance(section, CommentedMap):
            raise ConfigError(f"{self.path}: '{key}' must be a mapping of names to settings")
        if not section and section.fa.flow_style():
            section.fa.set_block_style()  # `pipelines: {}` grows into a block mapping
        return section

    def set_pipeline(
        self,
        name: str,
        *,
        notebook: str,
        params: Mapping[str, Mapping[str, Any]],
        reads: Sequence[str],
        writes: Sequence[str],
    ) -> None:
        """Create or update ``pipelines.<name>``; other keys of the entry are left alone.

        ``params`` maps each notebook parameter to inferred settings (``{"type": "date"}``); keys the
        user already set on a parameter are kept, only missing ones are added. Parameters declared in
        nbpipe.yaml but gone from the notebook are kept and reported in :attr:`notes`.
        """
        pipelines = self._section("pipelines")
        entry = pipelines.get(name)
        if entry is None:
            entry = CommentedMap()
            entry["notebook"] = notebook
            if params:
                entry["params"] = _flow_map({k: _flow_map(v) for k, v in params.items()})
            entry["reads"] = _flow_seq(reads)
            entry["writes"] = _flow_seq(writes)
            with _keep_tail(pipelines):
                pipelines[name] = entry
            return
        if not isinstance(entry, CommentedMap):
            raise ConfigError(f"{self.path}: pipelines.{name} must be a mapping")
        with _keep_tail(entry):
            if entry.get("notebook") != notebook:
                _put(entry, "notebook", notebook, after=())
            self._merge_params(name, entry, params)
            for key, values, after in (
                ("reads", reads, ("notebook", "params")),
                ("writes", writes, ("notebook", "params", "reads")),
            ):
                _set_list(entry, key, values, after)

    def _merge_params(
        self, pipeline: str, entry: CommentedMap, params: Mapping[str, Mapping[str, Any]]
    ) -> None:
        current = entry.get("params")
        if current is None:
            if params:
                _put(
                    entry,
                    "params",
                    _flow_map({k: _flow_map(v) for k, v in params.items()}),
                    after=("notebook",),
                )
            return
        if not isinstance(current, CommentedMap):
            raise ConfigError(f"{self.path}: pipelines.{pipeline}.params must be a mapping")
        with _keep_tail(current):
            for pname, inferred in params.items():
                spec = current.get(pname)
                if spec is None:
                    current[pname] = _flow_map(inferred)
                elif isinstance(spec, CommentedMap):
                    with _keep_tail(spec):
                        for key, value in inferred.items():
                            if key not in spec:
                                spec[key] = value
        for pname in [p for p in current if p not in params]:
            self.notes.append(
                f"pipelines.{pipeline}.params.{pname} is declared in nbpipe.yaml but not in the notebook's "
                "parameters cell; kept (delete it if the notebook no longer uses it)"
            )

    def declare_dataset(self, name: str, settings: Mapping[str, Any], *, comment: str | None = None) -> bool:
        """Add ``datasets.<name>`` unless it is declared; return True when added."""
        datasets = self._section("datasets")
        if name in datasets:
            return False
        with _keep_tail(datasets):
            datasets[name] = _flow_map(settings)
            if comment:
                datasets.yaml_add_eol_comment(comment, name)
        return True

    # -- output -------------------------------------------------------------------------------
    def dumps(self) -> str:
        out = io.StringIO()
        self._yaml.dump(self.doc, out)
        return out.getvalue()

    def diff(self) -> str:
        """A unified diff of the pending edits (empty when nothing changes)."""
        name = self.path.name
        return "".join(
            difflib.unified_diff(
                self.original.splitlines(True),
                self.dumps().splitlines(True),
                fromfile=f"a/{name}",
                tofile=f"b/{name}",
            )
        )

    @property
    def changed(self) -> bool:
        return self.dumps() != self.original

    def validate(self) -> ProjectConfig:
        """Validate the edited document as nbpipe.yaml (so promote never writes a broken config)."""
        text = self.dumps()
        try:
            raw = yaml.safe_load(text) or {}
            return ProjectConfig.model_validate(raw)
        except (yaml.YAMLError, ValidationError) as exc:
            raise ConfigError(
                f"the edited {self.path.name} would not be valid: {exc}",
                hint="fix nbpipe.yaml by hand, then run `nbpipe promote` again",
            ) from None

    def save(self) -> bool:
        """Write the edits atomically; return False when there was nothing to change."""
        if not self.changed:
            return False
        self.validate()
        text = self.dumps()
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self.original = text
        return True


def _put(entry: CommentedMap, key: str, value: Any, *, after: Sequence[str]) -> None:
    """Set ``key``; a new key goes right after the last of ``after`` present (else at the end)."""
    if key in entry:
        entry[key] = value
        return
    keys = list(entry.keys())
    anchors = [keys.index(a) for a in after if a in keys]
    if anchors:
        entry.insert(max(anchors) + 1, key, value)
    else:
        entry[key] = value


def _set_list(entry: CommentedMap, key: str, values: Sequence[str], after: Sequence[str]) -> None:
    """Make ``entry[key]`` equal ``values``, in place when it is a list (keeps style and item comments)."""
    current = entry.get(key)
    if isinstance(current, CommentedSeq):
        if list(current) == list(values):
            return
        slots = {v: current.ca.items.get(i) for i, v in enumerate(current)}
        with _keep_tail(current):
            current.clear()
            current.ca.items.clear()
            current.extend(values)
            for i, v in enumerate(values):
                if slots.get(v) is not None:
                    current.ca.items[i] = slots[v]
    elif current is None:
        if values:
            _put(entry, key, _flow_seq(values), after=after)
    elif list(current) != list(values):
        entry[key] = _flow_seq(values)


_Node = CommentedMap | CommentedSeq


def _last_owner(node: _Node) -> tuple[_Node, Any] | None:
    """The (container, key) of the deepest last block-style item: where a section's trailing lines live."""
    while True:
        if not node:
            return None
        key: Any = len(node) - 1 if isinstance(node, CommentedSeq) else list(node.keys())[-1]
        value = node[key]
        if isinstance(value, (CommentedMap, CommentedSeq)) and value and not value.fa.flow_style():
            node = value
            continue
        return node, key


def _slot_index(node: _Node) -> int:
    return 0 if isinstance(node, CommentedSeq) else 2


def _take_tail(node: _Node) -> str:
    """Detach and return the lines after the last item of ``node`` (blank lines, trailing comments)."""
    owner = _last_owner(node)
    if owner is None:
        return ""
    parent, key = owner
    slot = parent.ca.items.get(key)
    token = slot[_slot_index(parent)] if slot else None
    value = getattr(token, "value", None)
    if not isinstance(value, str):
        return ""
    head, sep, tail = value.partition("\n")
    if not sep or not tail:
        return ""
    token.value = head + "\n"  # type: ignore[union-attr]
    return tail


def _give_tail(node: _Node, tail: str) -> None:
    """Attach ``tail`` (from :func:`_take_tail`) after the (new) last item of ``node``."""
    owner = _last_owner(node)
    if owner is None or not tail:
        return
    parent, key = owner
    idx = _slot_index(parent)
    slot = parent.ca.items.setdefault(key, [None, None, None, None])
    token = slot[idx]
    if token is not None and isinstance(getattr(token, "value", None), str):
        token.value = (token.value if token.value.endswith("\n") else token.value + "\n") + tail
    else:
        slot[idx] = CommentToken("\n" + tail, CommentMark(0), None)


@contextlib.contextmanager
def _keep_tail(node: _Node) -> Iterator[None]:
    """Edit ``node`` while keeping whatever followed its last item after its (new) last item."""
    tail = _take_tail(node)
    try:
        yield
    finally:
        _give_tail(node, tail)
