"""What ``nbpipe promote`` found and proposes: observed datasets, contract and suite changes, the result."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from nbpipe.core.contracts import (
    Contract,
    ContractDiff,
)
from nbpipe.promote.lint import LintReport

Role = Literal["read", "write"]


@dataclass
class Observed:
    """A dataset the explore run read or wrote, as its events describe it."""

    dataset: str
    role: Role
    schema: list[dict[str, Any]] | None = None
    path: str | None = None
    rows: int | None = None
    fmt: str | None = None


@dataclass
class ContractChange:
    """What promote does to one dataset's contract."""

    dataset: str
    role: Role
    path: Path
    status: Literal["created", "updated", "unchanged", "kept"]
    old: Contract | None = None
    new: Contract | None = None
    diff: ContractDiff | None = None
    note: str = ""

    def render(self, root: Path) -> str:
        where = rel(self.path, root)
        if self.status == "kept":
            return f"  · {where}: {self.note}"
        if self.status == "created" and self.new is not None:
            cols = ", ".join(f"{c.name}: {c.type}" + ("" if c.nullable else " not null")
                             for c in self.new.columns)
            return f"  + {where}: new contract, version {self.new.version} ({cols})"
        if self.status == "unchanged" and self.old is not None:
            return f"  = {where}: unchanged (version {self.old.version})"
        assert self.diff is not None
        return f"  ~ {where}: " + self.diff.render().replace("\n", "\n    ")


@dataclass
class SuiteChange:
    """What promote does to one dataset's expectation suite."""

    dataset: str
    path: Path
    status: Literal["created", "updated", "unchanged"]
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    kept_user: list[str] = field(default_factory=list)
    suite: dict[str, Any] = field(default_factory=dict)

    def render(self, root: Path) -> str:
        where = rel(self.path, root)
        if self.status == "created":
            head = f"  + {where}: new suite, {len(self.added)} suggested expectation(s)"
        elif self.status == "unchanged":
            head = f"  = {where}: unchanged"
        else:
            head = f"  ~ {where}: {len(self.added)} suggestion(s) added, {len(self.removed)} replaced/dropped"
        if self.kept_user:
            head += f", {len(self.kept_user)} user-written kept"
        lines = [head] + [f"      + {d}" for d in self.added] + [f"      - {d}" for d in self.removed]
        return "\n".join(lines)


@dataclass
class PromoteResult:
    """Everything ``nbpipe promote`` did (or would do), for the CLI to render."""

    pipeline: str
    notebook: str
    run_id: str
    reused: bool
    root: Path
    lint: LintReport
    contracts: list[ContractChange] = field(default_factory=list)
    suites: list[SuiteChange] = field(default_factory=list)
    config_diff: str = ""
    warnings: list[str] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)

    def render(self) -> str:
        how = "reused explore run" if self.reused else "explore run"
        head = f"promote {self.notebook} → pipeline {self.pipeline} ({how} {self.run_id})"
        lines = [head, self.lint.render()]
        lines.append("contracts:")
        lines += [c.render(self.root) for c in self.contracts] or ["  (no datasets read or written)"]
        lines.append("expectation suites:")
        lines += [s.render(self.root) for s in self.suites] or ["  (none)"]
        lines.append("nbpipe.yaml:" + ("" if self.config_diff else " unchanged"))
        lines += ["  " + line for line in self.config_diff.rstrip("\n").splitlines()]
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        contracts = [
            {"dataset": c.dataset, "role": c.role, "path": rel(c.path, self.root), "status": c.status,
             "old_version": c.old.version if c.old else None, "new_version": c.new.version if c.new else None,
             "diff": c.diff.to_dict() if c.diff else None, "note": c.note}
            for c in self.contracts
        ]
        suites = [
            {"dataset": s.dataset, "path": rel(s.path, self.root), "status": s.status, "added": s.added,
             "removed": s.removed, "kept_user": s.kept_user}
            for s in self.suites
        ]
        return {"pipeline": self.pipeline, "notebook": self.notebook, "run_id": self.run_id,
                "reused": self.reused, "lint": [i.to_dict() for i in self.lint.issues],
                "contracts": contracts,
                "suites": suites, "config_diff": self.config_diff, "warnings": self.warnings,
                "written": [rel(p, self.root) for p in self.written]}


def rel(path: Path, root: Path) -> str:
    try:
        return Path(path).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)
