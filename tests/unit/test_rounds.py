"""Background rounds: nudged at once, a failing round does not end the job, a backlog runs on."""

from __future__ import annotations

import threading

from parcelguard.services.rounds import Rounds


def test_rounds_run_on_nudge_survive_a_failure_and_drain_a_backlog() -> None:
    done: list[int] = []
    ran, failed = threading.Event(), threading.Event()
    backlog = [3]  # three full batches waiting after the failure

    def round_() -> bool:
        done.append(len(done))
        if len(done) == 1:
            failed.set()
            raise RuntimeError("the database blinked")
        if backlog[0]:
            backlog[0] -= 1
            return True  # more waiting: go again at once
        ran.set()
        return False

    job = Rounds("test", every_s=3600, round_=round_)  # nothing by the clock in this test
    job.start()
    try:
        job.nudge()  # round 1 fails
        assert failed.wait(5)
        job.nudge()  # round 2 and the backlog behind it (two nudges at once make one round)
        assert ran.wait(5)
    finally:
        job.stop()
    assert done == [0, 1, 2, 3, 4]
    assert job.stopping
