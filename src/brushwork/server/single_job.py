"""One long job at a time, in a thread of its own: what training a style and painting a clip share.

``SingleJobRunner`` holds at most one job under way: a second is refused at once (``JobBusy``,
HTTP 409) rather than queued, since each takes minutes and two on the same cores would only
halve the speed of both while doubling the memory and disk held. The job runs in a new daemon
thread beside the painting worker's, so photos are still painted meanwhile. A cancel sets the
job's stop flag, which the job's work checks between its steps (``should_stop``,
``check_stop``); closing the runner stops a job under way the same way, waits for it, and
deletes every file. Each job has a folder in the runner's temporary folder; ended jobs are
remembered (the newest ``keep``), and a forgotten job's folder is deleted.

A subclass names its job (``noun``, ``url``, the words of its messages), says when it is off
(``_refuse_if_off``), does the work (``_work``) and cleans up after it (``_clean_up``); the
runner publishes the outcome. ``trainer.Trainer`` and ``video_jobs.VideoPainter`` are the two.
"""

from __future__ import annotations

import collections
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

from ..errors import BrushworkError, quoted
from .work import QueueFull

#: Seconds ``close`` waits for a job to stop: a stop is seen between steps (an iteration or a
#: frame: seconds at most on a CPU), but a step already begun cannot be interrupted; the
#: thread is a daemon, so the process still exits.
STOP_WAIT = 60.0
#: What a job stopped by the server's shutting down (not by a cancel) says.
SHUTTING_DOWN = "the server is shutting down"


class JobBusy(BrushworkError):
    """A job is already under way: one at a time (HTTP 409); or cancelling one that ended."""


class JobsOff(BrushworkError):
    """This server does not run this kind of job (HTTP 403)."""


class UnknownJobId(BrushworkError):
    """No job has this id (never started, or forgotten after ``keep`` newer ones; HTTP 404)."""


class Stopped(Exception):
    """Raised in a job's thread where it stops for a cancel or the server's shutting down."""


@dataclass(kw_only=True)
class SingleJob:
    """What every single job has: its id, folder, state and stop flag."""

    name: str  # the upload's file name without its suffix, for the names of what it makes
    folder: Path
    id: str = field(default_factory=lambda: secrets.token_urlsafe(9))
    state: str = "queued"  # queued | running | finished | cancelled | failed (the last 3 final)
    stage: str = "queued"
    error: str | None = None
    created: float = field(default_factory=time.time)
    finished_at: float | None = None
    cancel: threading.Event = field(default_factory=threading.Event)

    @property
    def active(self) -> bool:
        return self.state in ("queued", "running")

    def where(self) -> str:
        """How far it has come, for the message refusing a second job."""
        return self.stage

    def cancelled_message(self) -> str:
        return "cancelled"


J = TypeVar("J", bound=SingleJob)


class SingleJobRunner(Generic[J]):
    """Runs at most one job at a time, each in a new thread; remembers the newest ``keep``
    ended ones."""

    #: The job's name in messages and its thread's name ("training", "video").
    noun = "job"
    #: Where its routes are ("/v1/trainings"): the refusal says how to cancel the job.
    url = "/v1/jobs"
    #: The start of the message refusing a second job ("a style is already training").
    busy_message = "a job is already under way"
    #: What the message for an unknown id calls the jobs remembered ("finished", "ended").
    kept = "ended"
    #: What a job that failed for want of memory says.
    out_of_memory = "not enough memory now: try again when the server is idle"
    #: The stage a job enters when its thread starts.
    first_stage = "running"
    #: Prefixes of the runner's temporary folder and of each job's folder in it.
    temporary_prefix = "brushwork-jobs-"
    folder_prefix = "job-"
    busy_error: type[JobBusy] = JobBusy
    unknown_error: type[UnknownJobId] = UnknownJobId

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self._temporary = tempfile.TemporaryDirectory(prefix=self.temporary_prefix)
        self._lock = threading.Lock()
        self.jobs: collections.OrderedDict[str, J] = collections.OrderedDict()
        self._active: J | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False

    @property
    def folder(self) -> Path:
        return Path(self._temporary.name)

    def new_folder(self) -> Path:
        """A fresh folder for one job (the caller deletes it if no job is started in it)."""
        return Path(tempfile.mkdtemp(prefix=self.folder_prefix, dir=self._temporary.name))

    def check_room(self) -> None:
        """Raise unless a job could start now: checked before an upload is examined, so a
        refusal costs a client no more than sending it."""
        with self._lock:
            self._check_room()

    def _refuse_if_off(self) -> None:
        """Raise ``JobsOff`` (a subclass) where this server does not run these jobs."""

    def _check_room(self) -> None:
        self._refuse_if_off()
        if self._stopping:
            raise QueueFull(SHUTTING_DOWN)
        job = self._active
        if job is not None:
            raise self.busy_error(
                f"{self.busy_message} ({self.noun} {job.id}, {job.where()}): one at a time. "
                f"Wait for it to finish, or cancel it with DELETE {self.url}/{job.id}")

    def _launch(self, make_job: Callable[[], J]) -> J:
        """Start the job ``make_job`` makes, once there is room (so a refusal makes none)."""
        with self._lock:
            self._check_room()
            job = make_job()
            self._active = job
            self._remember(job)
            self._thread = threading.Thread(target=self._run, args=(job,),
                                            name=f"brushwork-{self.noun}-{job.id}", daemon=True)
            self._thread.start()
        return job

    def _remember(self, job: J) -> None:
        self.jobs[job.id] = job
        ended = [j for j in self.jobs.values() if not j.active]
        for old in ended[: max(0, len(ended) - self.keep)]:
            del self.jobs[old.id]
            shutil.rmtree(old.folder, ignore_errors=True)

    def job(self, job_id: str) -> J:
        with self._lock:
            job = self.jobs.get(job_id)
        if job is None:
            raise self.unknown_error(f"no {self.noun} {quoted(job_id)} ({self.kept} ones are "
                                     f"kept for the last {self.keep})")
        return job

    def cancel(self, job_id: str) -> J:
        """Ask a job to stop: its work sees the flag between steps."""
        job = self.job(job_id)
        if not job.active:
            raise self.busy_error(f"{self.noun} {job.id} has already ended ({job.state}): "
                                  "nothing to cancel")
        job.cancel.set()
        return job

    def active(self) -> str | None:
        """The id of the job under way, if any (the web page resumes showing it)."""
        with self._lock:
            return self._active.id if self._active is not None else None

    def close(self) -> None:
        """Stop a job under way (as a cancel) and wait for it, then delete every file."""
        with self._lock:
            self._stopping = True
            thread = self._thread
        if thread is not None:
            thread.join(timeout=STOP_WAIT)
        shutil.rmtree(self._temporary.name, ignore_errors=True)
        self._temporary.cleanup()

    # ------------------------------------------------------------------------ the run

    def should_stop(self, job: J) -> bool:
        return job.cancel.is_set() or self._stopping

    def check_stop(self, job: J) -> None:
        if self.should_stop(job):
            raise Stopped

    def _work(self, job: J) -> None:
        """The job itself, in its thread; raises ``Stopped`` where it stops."""
        raise NotImplementedError

    def _clean_up(self, job: J, finished: bool) -> None:
        """Delete what the job no longer needs (all it made, unless it ``finished``)."""

    def _failure(self, job: J, failure: BrushworkError) -> str:
        """What a job that failed with ``failure`` says."""
        return str(failure)

    def _run(self, job: J) -> None:
        """Work, then publish the outcome: the files cleaned up first and the slot freed with
        it, so a client that sees a final state sees its files gone and may start the next
        job at once."""
        job.state, job.stage = "running", self.first_stage
        state, error = "finished", None
        try:
            self._work(job)
        except Stopped:
            state = "cancelled"
            error = (SHUTTING_DOWN if self._stopping and not job.cancel.is_set()
                     else job.cancelled_message())
        except BrushworkError as failure:
            state, error = "failed", self._failure(job, failure)
        except Exception as failure:  # a bug, or the machine's memory: said, never raised
            state = "failed"
            if isinstance(failure, MemoryError) or "memory" in str(failure).lower():
                error = self.out_of_memory
            else:
                error = (f"internal error: {type(failure).__name__}: {failure} (please "
                         "report it)")
        self._clean_up(job, state == "finished")
        with self._lock:
            job.finished_at = time.time()
            job.error = error
            job.state = job.stage = state
            self._active = None
            self._remember(job)

