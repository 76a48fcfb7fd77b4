"""The single-job runner that training and clip painting share (``server.single_job``), with a
stand-in job that waits for its stop flag: one at a time, cancel, failures, and close."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import pytest

from brushwork.errors import BrushworkError
from brushwork.server.single_job import JobBusy, SingleJob, SingleJobRunner, UnknownJobId
from brushwork.server.work import QueueFull


@dataclass(kw_only=True)
class Waiting(SingleJob):
    fail: Exception | None = None
    began: threading.Event = field(default_factory=threading.Event)


class Runner(SingleJobRunner[Waiting]):
    noun, url = "wait", "/v1/waits"

    def __init__(self) -> None:
        super().__init__(keep=1)
        self.cleaned: list[tuple[str, bool]] = []

    def start(self, fail: Exception | None = None) -> Waiting:
        return self._launch(lambda: Waiting(name="w", folder=self.new_folder(), fail=fail))

    def _work(self, job: Waiting) -> None:
        job.began.set()
        if job.fail is not None:
            raise job.fail
        while True:
            self.check_stop(job)
            time.sleep(0.01)

    def _clean_up(self, job: Waiting, finished: bool) -> None:
        self.cleaned.append((job.id, finished))


def ended(runner: Runner, job: Waiting) -> Waiting:
    for _ in range(500):
        if not job.active:
            return job
        time.sleep(0.01)
    raise AssertionError(f"{job.id} did not end")


def test_one_job_at_a_time_then_cancel_frees_the_slot():
    runner = Runner()
    try:
        job = runner.start()
        job.began.wait(5)
        assert runner.active() == job.id
        with pytest.raises(JobBusy, match=f"wait {job.id}, running.*DELETE /v1/waits/{job.id}"):
            runner.start()
        runner.cancel(job.id)
        assert ended(runner, job).state == "cancelled"
        assert job.error == "cancelled" and runner.cleaned == [(job.id, False)]
        assert runner.active() is None
        with pytest.raises(JobBusy, match="already ended"):
            runner.cancel(job.id)
        runner.check_room()  # room again
    finally:
        runner.close()


def test_failures_are_said_and_ended_jobs_are_forgotten_with_their_folders():
    runner = Runner()
    try:
        first = ended(runner, runner.start(fail=BrushworkError("a bad painting")))
        assert (first.state, first.error) == ("failed", "a bad painting")
        second = ended(runner, runner.start(fail=MemoryError()))
        assert second.error == runner.out_of_memory
        third = ended(runner, runner.start(fail=ValueError("oops")))
        assert third.error == "internal error: ValueError: oops (please report it)"
        assert list(runner.jobs) == [third.id]  # keep=1
        assert not first.folder.exists() and third.folder.exists()
        with pytest.raises(UnknownJobId, match="ended ones are kept for the last 1"):
            runner.job(first.id)
    finally:
        runner.close()


def test_close_stops_the_job_and_deletes_every_file():
    runner = Runner()
    job = runner.start()
    job.began.wait(5)
    runner.close()
    assert (job.state, job.error) == ("cancelled", "the server is shutting down")
    assert not runner.folder.exists()
    with pytest.raises(QueueFull, match="shutting down"):
        runner.check_room()
