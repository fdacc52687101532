"""``antrean run``'s supervision: exits noticed, restarts spaced out, back-off forgotten."""

from __future__ import annotations

import logging
import os
import sys

from portal.cli.supervise import Child, exit_reason, restart_delay


def test_the_back_off_doubles_up_to_thirty_seconds() -> None:
    assert [restart_delay(n) for n in range(8)] == [1, 2, 4, 8, 16, 30, 30, 30]
    assert restart_delay(10_000) == 30


def test_exits_are_named_by_code_or_signal() -> None:
    assert exit_reason(3) == "exit code 3"
    assert exit_reason(-9) == "signal SIGKILL"
    assert exit_reason(-15) == "signal SIGTERM"


def test_a_dead_child_is_restarted_after_its_delay(caplog) -> None:
    caplog.set_level(logging.INFO, logger="antrean.run")
    child = Child("job", [sys.executable, "-c", "raise SystemExit(3)"], dict(os.environ))
    child.start(0.0)  # the clock is ours: the process is real, the seconds are not
    assert child.process is not None
    child.process.wait()
    child.check(0.5)
    assert child.process is None
    child.check(1.0)  # not yet: due at 1.5
    assert child.process is None
    child.check(1.6)
    assert child.process is not None
    child.process.wait()
    child.check(2.0)  # died again at once: twice the delay
    assert child.next_start == 4.0
    child.check(4.0)
    assert child.process is not None
    child.process.wait()
    child.check(70.0)  # it ran for a minute: the back-off starts over
    assert child.next_start == 71.0
    said = [record.getMessage() for record in caplog.records]
    assert said[0] == "job exited with exit code 3 after 0 s; restarting in 1 s"
    assert said[1].startswith("job started again (pid ")
    assert said[2] == "job exited with exit code 3 after 0 s; restarting in 2 s"
    assert said[4] == "job exited with exit code 3 after 66 s; restarting in 1 s"
