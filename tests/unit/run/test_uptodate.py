"""Skip-if-up-to-date over everything that can change a run's output, with a fake executor.

Each test changes one thing between runs: the notebook, a parameter, the pipeline's or a dataset's
``nbpipe.yaml`` entry, a contract, a suite, the profile, a project module the notebook imports, an
input. No kernel starts (:class:`~tests.support.fakes.FakeExecutor` reports the reads and checks a
notebook would); the project, the SQLite run store, the event log and the records are real.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import pytest
import yaml

from nbpipe.core import events as ev
from nbpipe.core.config import load_project
from nbpipe.core.layout import list_files
from nbpipe.run.runner import Runner, RunResult
from tests.support.fakes import FakeExecutor, Outcome
from tests.support.projects import build_project

PIPELINE = "p"
CODE = (
    "import nbpipe\nimport helpers\n\nctx = nbpipe.context()\ndf = ctx.read('landing')\n"
    "ctx.check(df, 'flights')\nctx.write(helpers.clean(df), 'out')"
)
READ = (ev.DATASET_READ, {"dataset": "landing", "rows": 1})
CHECKED = (ev.CHECK, {"suite": "flights", "dataset": "landing", "success": True, "gate_passed": True})


def write_notebook(path: Path, *code: str, parameters: str = "run_date = '2024-01-01'") -> None:
    cells = [nbformat.v4.new_code_cell(parameters, metadata={"tags": ["parameters"]})]
    cells += [nbformat.v4.new_code_cell(c) for c in code]
    kernel = {"kernelspec": {"name": "python3", "display_name": "P", "language": "python"},
              "language_info": {"name": "python"}}
    nb = nbformat.v4.new_notebook(cells=cells, metadata=kernel)
    nbformat.write(nb, path)


class Bench:
    """A project whose pipeline ``p`` runs on a fresh :class:`FakeExecutor` (and freshly loaded config) each run."""

    def __init__(self, root: Path, outcome: Outcome) -> None:
        self.root = root
        self.outcome = outcome
        self.executed = 0

    def run(self, **kwargs: Any) -> RunResult:
        executor = FakeExecutor([self.outcome])
        with Runner(load_project(project_dir=self.root), executor=executor) as runner:
            result = runner.run(PIPELINE, **kwargs)
        self.executed += len(executor.requests)
        return result

    def edit_config(self, change: Callable[[dict[str, Any]], None]) -> None:
        path = self.root / "nbpipe.yaml"
        config = yaml.safe_load(path.read_text())
        change(config)
        path.write_text(yaml.safe_dump(config, sort_keys=False))

    def land(self, name: str, text: str = "id\n1\n") -> None:
        (self.root / "landing" / name).write_text(text)


def not_skipped(result: RunResult) -> dict[str, Any]:
    """The runner's event saying why ``result`` was not skipped."""
    events = ev.read_events(result.run_dir / ev.EVENTS_FILE)
    (found,) = [e for e in events if e["kind"] == ev.LOG and "fingerprint_changed" in e]
    recorded = result.record["not_skipped"]
    assert recorded == {k: v for k, v in found.items() if k not in ("ts", "kind", "source", "level", "attempt")}, (
        "run.json says why the run was not skipped, as its event log does")
    return found


def changed_parts(after: RunResult, before: RunResult) -> list[str]:
    new, old = after.record["fingerprint_parts"], before.record["fingerprint_parts"]
    return sorted(k for k in set(new) | set(old) if new.get(k) != old.get(k))


@pytest.fixture
def bench(tmp_path: Path) -> Callable[..., Bench]:
    def build(*, code: str = CODE, outcome: Outcome | None = None, **pipeline: Any) -> Bench:
        root = build_project(
            tmp_path / "project",
            project="uptodate",
            profiles={"dev": {"spark": {"master": "local[1]"}}},
            datasets={"landing": {"path": "landing", "format": "csv"}, "out": {"format": "parquet"}},
            pipelines={PIPELINE: {"reads": ["landing"], "writes": ["out"], **pipeline}},
        )
        write_notebook(root / f"{PIPELINE}.ipynb", code)
        (root / "helpers.py").write_text("from lib.clean import fix\n\ndef clean(df):\n    return fix(df)\n")
        (root / "lib").mkdir()
        (root / "lib" / "__init__.py").write_text("")
        (root / "lib" / "clean.py").write_text("import json\n\ndef fix(df):\n    return df\n")
        (root / "expectations").mkdir()
        (root / "expectations" / "flights.json").write_text('{"name": "flights", "expectations": []}\n')
        (root / "landing").mkdir()
        b = Bench(root, outcome or Outcome(events=[READ, CHECKED]))
        b.land("a.csv")
        return b

    return build


def _edit(path: str, old: str, new: str) -> Callable[[Bench], None]:
    def change(b: Bench) -> None:
        target = b.root / path
        text = target.read_text()
        assert old in text
        target.write_text(text.replace(old, new))

    return change


def _write(path: str, text: str) -> Callable[[Bench], None]:
    return lambda b: (b.root / path).write_text(text)


def _config(change: Callable[[dict[str, Any]], None]) -> Callable[[Bench], None]:
    return lambda b: b.edit_config(change)


CHANGES: dict[str, tuple[Callable[[Bench], None], str, str]] = {
    # name: (change, the part that differs, what the explanation says)
    "notebook code": (_edit("p.ipynb", "helpers.clean(df)", "df"), "notebook", "notebook code changed"),
    "pipeline entry": (_config(lambda c: c["pipelines"]["p"].update(quality="warn")), "pipeline",
                       "the pipeline's nbpipe.yaml entry changed"),
    "input dataset entry": (_config(lambda c: c["datasets"]["landing"].update(options={"header": "true"})),
                            "dataset:landing", "nbpipe.yaml entry of dataset `landing` changed"),
    "output dataset entry": (_config(lambda c: c["datasets"]["out"].update(partition_by=["day"])),
                             "dataset:out", "nbpipe.yaml entry of dataset `out` changed"),
    "profile": (_config(lambda c: c["profiles"]["dev"]["spark"].update(conf={"spark.sql.shuffle.partitions": 4})),
                "profile", "the profile or mode changed"),
    "new contract": (_write("contracts/landing.yaml", "dataset: landing\nversion: '1.0'\ncolumns: []\n"),
                     "contract:landing", "contract of dataset `landing` changed"),
    "checked suite": (_write("expectations/flights.json", '{"name": "flights", "expectations": [{"type": "x"}]}'),
                      "suite:flights", "suite `flights` changed"),
    "suite of a dataset": (_write("expectations/out.json", '{"name": "out", "expectations": []}'),
                           "suite:out", "suite `out` is new"),
    "imported module": (_edit("helpers.py", "return fix(df)", "return fix(fix(df))"), "module:helpers.py",
                        "project module `helpers.py` changed"),
    "transitively imported module": (_edit("lib/clean.py", "return df", "return df.dropna()"),
                                     "module:lib/clean.py", "project module `lib/clean.py` changed"),
    "input file": (lambda b: b.land("b.csv"), "input:landing", "input `landing` changed (files or committed position)"),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_each_thing_that_can_change_the_output_makes_the_run_run_and_is_named(
    bench: Callable[..., Bench], change: str
) -> None:
    b = bench()
    (b.root / "contracts").mkdir()
    first = b.run()
    assert first.status == "succeeded"
    assert b.run().status == "skipped", "nothing changed yet"
    edit, part, text = CHANGES[change]
    edit(b)
    again = b.run()
    assert again.status == "succeeded", f"{change}: expected a real run, got {again.status}"
    assert changed_parts(again, first) == [part]
    why = not_skipped(again)
    assert why["compared_with"] == first.run_id
    assert [c["part"] for c in why["fingerprint_changed"]] == [part]
    assert why["message"] == f"not skipped: {text} since run {first.run_id}"
    assert b.run().status == "skipped", "the new run is the one to compare with"
    assert b.executed == 2


def test_a_parameter_change_is_named(bench: Callable[..., Bench]) -> None:
    b = bench()
    first = b.run()
    again = b.run(given={"run_date": "2024-01-02"})
    assert again.status == "succeeded" and changed_parts(again, first) == ["params"]
    assert not_skipped(again)["message"] == f"not skipped: parameters changed since run {first.run_id}"


def test_settings_that_cannot_change_the_output_do_not_make_it_run(bench: Callable[..., Bench]) -> None:
    b = bench()
    first = b.run()

    def neutral(c: dict[str, Any]) -> None:
        c["pipelines"]["p"].update(retries=2, retry_delay_s=1, timeout_s=60, schedule="0 6 * * *",
                                   notify=[{"on": ["failure"], "webhook": "https://hooks.example/x?token=abc"}])
        c["datasets"]["landing"]["description"] = "raw landing files"
        c["profiles"]["dev"]["store"] = "sqlite:///runs/nbpipe.db"

    b.edit_config(neutral)
    skipped = b.run()
    assert skipped.status == "skipped" and first.run_id in str(skipped.record["skipped_reason"])
    assert skipped.record["skipped_reason"] == (
        "up to date: notebook code, parameters, configuration, contracts, suites, profile, project modules and "
        f"inputs are unchanged since run {first.run_id}")


def test_the_first_run_says_there_was_nothing_to_compare_with(bench: Callable[..., Bench]) -> None:
    first = bench().run()
    why = not_skipped(first)
    assert why["message"] == "not skipped: no earlier successful run to compare with"
    assert why["compared_with"] is None and why["fingerprint_changed"] == []
    parts = first.record["fingerprint_parts"]
    assert {"notebook", "params", "pipeline", "profile", "dataset:landing", "dataset:out", "contract:landing",
            "contract:out", "suite:flights", "module:helpers.py", "module:lib/__init__.py", "module:lib/clean.py",
            "input:landing"} == set(parts)
    assert parts["contract:landing"] == "absent"


# --------------------------------------------------------------------------- inputs not declared
def test_inputs_read_by_the_last_success_count_without_reads(bench: Callable[..., Bench]) -> None:
    dynamic = "import nbpipe\nctx = nbpipe.context()\nname = 'land' + 'ing'\ndf = ctx.read(name)"
    b = bench(code=dynamic, outcome=Outcome(events=[READ]), reads=[], writes=[])
    first = b.run()
    assert first.status == "succeeded"
    assert "reads no input nbpipe can see" in not_skipped(first)["message"]

    second = b.run()  # the first run's events say it read `landing`: now it is fingerprinted
    assert second.status == "succeeded"
    assert not_skipped(second)["message"] == (
        f"not skipped: nbpipe.yaml entry of dataset `landing` is new; contract of dataset `landing` is new; "
        f"input `landing` is new since run {first.run_id}")
    assert b.run().status == "skipped"

    b.land("b.csv")
    changed = b.run()
    assert changed.status == "succeeded"
    assert not_skipped(changed)["message"] == f"not skipped: input `landing` changed (files or committed position) " \
        f"since run {second.run_id}"
    assert b.run().status == "skipped" and b.executed == 3


def test_an_incremental_rerun_without_reads_is_skipped_once_caught_up(bench: Callable[..., Bench]) -> None:
    code = "import nbpipe\nctx = nbpipe.context()\ndf = ctx.incremental('landing')"
    b = bench(code=code, reads=[], writes=[])
    position = {"kind": "files", "files": list_files(b.root / "landing")}
    b.outcome = Outcome(proposals={"landing": position}, events=[READ])
    first = b.run()
    assert first.status == "succeeded" and first.record["state"]["after"] == {"landing": position}

    rerun = b.run()
    assert rerun.status == "skipped", "nothing new to read: no empty run is recorded"
    assert rerun.record["attempts"] == [] and b.executed == 1

    b.land("b.csv")
    b.outcome = Outcome(proposals={"landing": {"kind": "files", "files": list_files(b.root / "landing")}},
                        events=[READ])
    assert b.run().status == "succeeded" and b.run().status == "skipped"
    assert b.executed == 2


def test_a_run_that_left_files_unread_is_not_recorded_as_caught_up(bench: Callable[..., Bench]) -> None:
    code = "import nbpipe\nctx = nbpipe.context()\ndf = ctx.incremental('landing', max_files=1)"
    b = bench(code=code, reads=[], writes=[])
    b.land("b.csv")
    first_file = dict(list(list_files(b.root / "landing").items())[:1])
    b.outcome = Outcome(proposals={"landing": {"kind": "files", "files": first_file}}, events=[READ])
    assert b.run().status == "succeeded"
    rest = b.run()
    assert rest.status == "succeeded", "one file is still unread"
    assert "input `landing` changed" in not_skipped(rest)["message"]


@pytest.mark.parametrize("fmt", ["kafka", "jdbc"])
def test_an_input_nbpipe_cannot_list_is_never_skipped_and_says_why(bench: Callable[..., Bench], fmt: str) -> None:
    b = bench(reads=["landing", "events"])
    b.edit_config(lambda c: c["datasets"].update(events={"format": fmt, "options": {"url": "x://h/db"}}))
    assert b.run().status == "succeeded"
    again = b.run()
    assert again.status == "succeeded"
    why = not_skipped(again)
    noun = "records" if fmt == "kafka" else "rows"
    assert why["not_skippable"] == [
        f"input `events` is a {fmt} source: nbpipe cannot tell whether it has new {noun} without reading it"]
    assert why["message"].startswith(f"not skipped: input `events` is a {fmt} source")
    assert why["fingerprint_changed"] == []


def test_a_dataset_read_last_time_that_is_no_longer_declared_is_not_skipped(bench: Callable[..., Bench]) -> None:
    b = bench(code="import nbpipe\nctx = nbpipe.context()\ndf = ctx.read(NAME)", reads=[], writes=[])
    b.outcome = Outcome(events=[(ev.DATASET_READ, {"dataset": "gone", "rows": 1}), READ])
    b.run()
    b.run()
    third = b.run()
    assert third.status == "succeeded"
    assert any("dataset `gone` (read by run" in r and "is not declared" in r
               for r in not_skipped(third)["not_skippable"])


def test_force_runs_and_says_so(bench: Callable[..., Bench]) -> None:
    b = bench()
    b.run()
    forced = b.run(force=True)
    assert forced.status == "succeeded" and not_skipped(forced)["message"] == "not skipped: run with --force"


def test_explore_runs_are_fingerprinted_but_never_compared(bench: Callable[..., Bench]) -> None:
    b = bench()
    first = b.run(mode="explore")
    assert first.status == "succeeded" and first.record["fingerprint"].startswith("sha256:")
    second = b.run(mode="explore")
    assert second.status == "succeeded" and b.executed == 2
    events = list(ev.read_events(second.run_dir / ev.EVENTS_FILE))
    assert not [e for e in events if "fingerprint_changed" in e]


def test_the_record_and_store_keep_the_parts(bench: Callable[..., Bench]) -> None:
    b = bench()
    first = b.run()
    on_disk = json.loads((first.run_dir / "run.json").read_text())
    assert on_disk["fingerprint_parts"] == first.record["fingerprint_parts"]
    with Runner(load_project(project_dir=b.root), executor=FakeExecutor()) as runner:
        stored = runner.store.get_run(first.run_id)
    assert stored["fingerprint_parts"] == first.record["fingerprint_parts"]


# --------------------------------------------------------------------------- explaining
def test_the_explanation_names_the_first_changes_and_counts_the_rest() -> None:
    from nbpipe.run.uptodate import Prior, changes, explain

    old = {"notebook": "a", "params": "a", "pipeline": "a", "suite:x": "a", "module:m.py": "a", "input:i": "a"}
    new = {"notebook": "b", "params": "a", "pipeline": "a", "suite:x": "b", "contract:d": "absent", "input:i": "b"}
    prior = Prior(run_id="R1", fingerprint="f", parts=old)
    found = changes(new, prior)
    assert [(c["part"], c["change"]) for c in found] == [
        ("notebook", "changed"), ("contract:d", "added"), ("suite:x", "changed"), ("module:m.py", "removed"),
        ("input:i", "changed")]
    assert explain(found, prior) == (
        "notebook code changed; contract of dataset `d` is new; suite `x` changed; and 2 more since run R1")


def test_a_record_from_an_earlier_nbpipe_is_explained_as_such() -> None:
    from nbpipe.run.uptodate import Prior, changes, explain

    prior = Prior(run_id="R0", fingerprint="f", parts={"notebook": "a", "params": "a", "inputs": "a", "extra": "a"})
    found = changes({"notebook": "a", "params": "a", "pipeline": "p"}, prior)
    assert explain(found, prior) == ("what nbpipe fingerprints changed (it now also covers configuration, contracts, "
                                     "suites and project modules) since run R0")


def test_an_unreadable_contract_does_not_fail_the_run_but_prevents_the_skip(bench: Callable[..., Bench]) -> None:
    b = bench()
    (b.root / "contracts" / "landing.yaml").mkdir(parents=True)  # a directory where the contract file goes
    b.run()
    again = b.run()
    assert again.status == "succeeded"
    (blocker,) = not_skipped(again)["not_skippable"]
    assert blocker.startswith(f"{b.root / 'contracts' / 'landing.yaml'} cannot be read:")


def test_a_dataset_the_pipeline_reads_and_writes_is_its_own_output_not_an_input(bench: Callable[..., Bench]) -> None:
    code = "import nbpipe\nctx = nbpipe.context()\ncurrent = ctx.read('out')\nctx.write(current, 'out')"
    b = bench(code=code, outcome=Outcome(staged={"out": {"part.csv": "id\n1\n"}}, events=[READ]))
    first = b.run()
    assert first.status == "succeeded" and (b.root / "warehouse" / "out").exists()
    assert "input:out" not in first.record["fingerprint_parts"] and "dataset:out" in first.record["fingerprint_parts"]
    assert b.run().status == "skipped", "its own publish does not make the next run stale"
