"""How an attempt ended, from the kernel's execute replies (pure: no kernel starts)."""

from __future__ import annotations

import pytest

from nbpipe.run.replies import ExecutionOutcome, ReplyLog


def reply(status: str, **content: object) -> dict[str, object]:
    return {"content": {"status": status, **content}}


def test_reply_log_keeps_the_first_error_reply():
    log = ReplyLog()
    log(cell=None, cell_index=1, execute_reply=reply("ok"))
    log(cell=None, cell_index=2, execute_reply=reply("error", ename="UsageError", evalue="no magic", traceback=[]))
    log(cell=None, cell_index=3, execute_reply=reply("error", ename="ValueError", evalue="later"))
    assert log.first_error is not None
    assert (log.first_error.cell_index, log.first_error.ename, log.first_error.evalue) == (2, "UsageError", "no magic")
    assert not log.first_error.clean_exit


@pytest.mark.parametrize(
    ("evalue", "clean"), [("", True), ("0", True), ("None", True), ("3", False), ("msg", False), ("1", False)]
)
def test_only_a_system_exit_without_error_code_is_a_clean_stop(evalue: str, clean: bool):
    log = ReplyLog()
    log(cell=None, cell_index=4, execute_reply=reply("error", ename="SystemExit", evalue=evalue))
    assert log.first_error is not None and log.first_error.clean_exit is clean


def test_stop_record_names_the_cell():
    assert ExecutionOutcome().stop_record() is None
    note = ExecutionOutcome(stopped_at=3, label="cell 3 (In [3])").stop_record()
    assert note is not None and note["cell_index"] == 3
    assert note["message"].startswith("stopped early at cell 3 (In [3])")
