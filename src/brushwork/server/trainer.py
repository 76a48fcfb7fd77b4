"""Training a user's own style in the server: one run at a time, in a thread of its own.

A run is ``recipe.train_own_style``, what ``brushwork train --style PAINTING`` does (~300
iterations, 6-7 minutes on a 2-core AVX-512 BF16 CPU), then the quality report
(``quality_report.report_on_model``, ~30-40 s, skippable), then the model is offered as a
style through the painting worker's upload path (``Worker.add_model``), so the user can paint
with it at once and it is checked exactly as an uploaded model file is.

Why its own thread and not the painting worker's queue: a run takes minutes, and photos must
still be painted meanwhile (they run slower, side by side, but they run). Why one run at a
time: two runs on one machine each go more than twice as slow (DEVELOPERS.md: 14.6 s per
iteration each against 3.4 s alone on 2 cores) and on a GPU they double the memory, so a
second request is refused at once (``TrainingBusy``, HTTP 409) rather than queued for minutes.

Files: each run has a folder in the server's temporary folder: the painting (decoded and
written as PNG, so the run reads exactly what was checked), the run folder (checkpoints,
previews: deleted when the run ends; the latest preview is kept in memory), the model file
and the report sheet, deleted when the run is forgotten (``keep_trainings`` newer ones) or
the server stops. A cancelled or failed run leaves no model file.
"""

from __future__ import annotations

import collections
import secrets
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from .. import quality_report, recipe
from ..errors import BrushworkError, quoted
from ..hyper_parameters import TrainConfig
from ..images import save_image
from ..training import TrainingEvent, TrainingInterrupted
from .work import QueueFull, ServerSettings, Worker

#: Seconds ``close`` waits for a run to stop (ours, as the painting worker's): a stop is
#: asked between iterations (seconds each on a CPU), but the recipe's set-up or a report
#: already begun cannot be interrupted; the thread is a daemon, so the process still exits.
STOP_WAIT = 60.0


class TrainingBusy(BrushworkError):
    """A style is already training: one run at a time (HTTP 409)."""


class TrainingOff(BrushworkError):
    """This server does not train styles (``ServerSettings.training`` off; HTTP 403)."""


class UnknownTraining(BrushworkError):
    """No training has this id (never started, or forgotten after ``keep_trainings``)."""


class _Cancelled(Exception):
    """Raised in the run's thread where a cancel is seen outside the training loop."""


@dataclass
class TrainingJob:
    """One painting being learnt, and what has come of it so far."""

    name: str  # the painting's file name without its suffix: the style's title
    folder: Path
    #: The decoded painting until the run has written it to its folder (then None: it can be
    #: the biggest thing a run holds).
    upload: Image.Image | None = field(default=None, repr=False)
    id: str = field(default_factory=lambda: secrets.token_urlsafe(9))
    state: str = "queued"  # queued | running | finished | cancelled | failed (the last 3 final)
    #: queued | preparing (the recipe: nearest built-in style, texture weights) | training
    #: | report | adding (loaded and offered as a style) | done | cancelled | failed
    stage: str = "queued"
    iteration: int = 0
    iterations: int = 0
    elapsed: float = 0.0  # training seconds (the budget counts these)
    budget: float = 0.0  # seconds, 0: none
    preview_jpeg: bytes | None = None
    preview_iteration: int = 0
    report: dict[str, Any] | None = None
    style: str | None = None
    messages: list[str] = field(default_factory=list)
    error: str | None = None
    created: float = field(default_factory=time.time)
    finished_at: float | None = None
    cancel: threading.Event = field(default_factory=threading.Event)

    @property
    def painting(self) -> Path:
        return self.folder / f"{self.name}.png"

    @property
    def run_dir(self) -> Path:
        return self.folder / "run"

    @property
    def model(self) -> Path:
        return self.folder / f"{self.name}.safetensors"

    @property
    def sheet(self) -> Path:
        """Where ``report_on_model`` writes the report's contact sheet."""
        return self.model.with_name(self.model.stem + ".report.jpg")

    @property
    def active(self) -> bool:
        return self.state in ("queued", "running")

    def seconds_left(self) -> float | None:
        """Training seconds left: the iterations left at the rate so far, or the budget left
        if that ends sooner (None before the first iteration: no rate yet). The report, when
        on, comes after these (~30-40 s on a CPU)."""
        if self.stage != "training" or not self.iteration:
            return None
        left = (self.iterations - self.iteration) * self.elapsed / self.iteration
        if self.budget:
            left = min(left, max(0.0, self.budget - self.elapsed))
        return round(left, 1)

    @property
    def progress(self) -> float:
        """A fraction done for a progress bar: iterations, or the budget if it ends sooner."""
        if self.state == "finished":
            return 1.0
        if not self.iterations:
            return 0.0
        done = self.iteration / self.iterations
        if self.budget:
            done = max(done, self.elapsed / self.budget)
        return round(min(done, 1.0), 3)

    def to_dict(self) -> dict[str, Any]:
        url = f"/v1/trainings/{self.id}"
        finished = self.state == "finished"
        report = None
        if self.report is not None:
            report = {**self.report, "sheet": f"{url}/report"}
        return {
            "id": self.id, "state": self.state, "stage": self.stage, "painting": self.name,
            "iteration": self.iteration, "iterations": self.iterations,
            "progress": self.progress, "elapsed_seconds": round(self.elapsed, 1),
            "budget_seconds": self.budget or None, "seconds_left": self.seconds_left(),
            "preview": f"{url}/preview" if self.preview_jpeg else None,
            "preview_iteration": self.preview_iteration or None,
            "style": self.style if finished else None,
            "model": f"{url}/model" if finished else None,
            "model_filename": self.model.name if finished else None,
            "report": report, "messages": list(self.messages), "error": self.error,
        }


class Trainer:
    """Runs at most one training at a time, each in a new thread; remembers finished ones."""

    def __init__(self, settings: ServerSettings, worker: Worker) -> None:
        self.settings = settings
        self.worker = worker
        self._temporary = tempfile.TemporaryDirectory(prefix="brushwork-training-")
        self._lock = threading.Lock()
        self.jobs: collections.OrderedDict[str, TrainingJob] = collections.OrderedDict()
        self._active: TrainingJob | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False

    def check_room(self) -> None:
        """Raise unless a run could start now: checked before a painting is decoded, so a
        refusal costs a client no more than its upload."""
        with self._lock:
            self._check_room()

    def _check_room(self) -> None:
        if not self.settings.training:
            raise TrainingOff("this server does not train styles: train with 'brushwork "
                              "train --style PAINTING' and upload the model file")
        if self._stopping:
            raise QueueFull("the server is shutting down")
        job = self._active
        if job is not None:
            where = (f"iteration {job.iteration} of {job.iterations}" if job.iteration
                     else job.stage)
            raise TrainingBusy(
                f"a style is already training (training {job.id}, {where}): one at a time. "
                f"Wait for it to finish, or cancel it with DELETE /v1/trainings/{job.id}")

    def start(self, painting: Image.Image, name: str) -> TrainingJob:
        """Start learning ``painting`` (decoded, checked); ``name`` is a safe file stem."""
        with self._lock:
            self._check_room()
            folder = Path(tempfile.mkdtemp(prefix="run-", dir=self._temporary.name))
            job = TrainingJob(name=name, folder=folder, upload=painting)
            self._active = job
            self._remember(job)
            self._thread = threading.Thread(target=self._run, args=(job,),
                                            name=f"brushwork-training-{job.id}", daemon=True)
            self._thread.start()
        return job

    def _remember(self, job: TrainingJob) -> None:
        self.jobs[job.id] = job
        ended = [j for j in self.jobs.values() if not j.active]
        for old in ended[: max(0, len(ended) - self.settings.keep_trainings)]:
            del self.jobs[old.id]
            shutil.rmtree(old.folder, ignore_errors=True)

    def job(self, job_id: str) -> TrainingJob:
        with self._lock:
            job = self.jobs.get(job_id)
        if job is None:
            raise UnknownTraining(f"no training {quoted(job_id)} (finished ones are kept for "
                                  f"the last {self.settings.keep_trainings})")
        return job

    def cancel(self, job_id: str) -> TrainingJob:
        """Ask a run to stop: it stops after the iteration under way (a checkpoint is saved,
        then deleted with the run's folder) and writes no model."""
        job = self.job(job_id)
        if not job.active:
            raise TrainingBusy(f"training {job.id} has already ended ({job.state}): nothing "
                               "to cancel")
        job.cancel.set()
        return job

    def active(self) -> str | None:
        """The id of the run under way, if any (the web page resumes showing it)."""
        with self._lock:
            return self._active.id if self._active is not None else None

    def close(self) -> None:
        """Stop a run under way (as a cancel) and wait for it, then delete every file."""
        with self._lock:
            self._stopping = True
            thread = self._thread
        if thread is not None:
            thread.join(timeout=STOP_WAIT)
        shutil.rmtree(self._temporary.name, ignore_errors=True)
        self._temporary.cleanup()

    # ------------------------------------------------------------------------ the run

    def _should_stop(self, job: TrainingJob) -> bool:
        return job.cancel.is_set() or self._stopping

    def _check_stop(self, job: TrainingJob) -> None:
        if self._should_stop(job):
            raise _Cancelled

    def _on_event(self, job: TrainingJob, event: TrainingEvent) -> None:
        """The training's events into the job (the training thread; the HTTP side reads)."""
        if event.kind == "iteration":
            job.stage = "training"
            job.iterations, job.budget = event.iterations, event.budget
            job.elapsed = event.elapsed
            job.iteration = event.iteration
        elif event.kind == "preview":
            # Read now: the run folder, previews included, goes when the run ends.
            job.preview_jpeg = Path(event.message).read_bytes()
            job.preview_iteration = event.iteration
        elif event.kind in ("warning", "stopped"):
            job.messages.append(event.message)

    def _run(self, job: TrainingJob) -> None:
        """Train, then publish the outcome: the files cleaned up first and the slot freed
        with it, so a client that sees a final state sees its files gone and may start the
        next run at once."""
        job.state, job.stage = "running", "preparing"
        state, error = "finished", None
        try:
            self._train(job)
        except (TrainingInterrupted, _Cancelled, QueueFull):
            state = "cancelled"
            error = ("the server is shutting down" if self._stopping and not
                     job.cancel.is_set() else f"cancelled at iteration {job.iteration}")
        except BrushworkError as failure:
            state, error = "failed", str(failure)
        except Exception as failure:  # a bug, or the machine's memory: said, never raised
            state = "failed"
            if isinstance(failure, MemoryError) or "memory" in str(failure).lower():
                error = "not enough memory to train now: try again when the server is idle"
            else:
                error = (f"internal error: {type(failure).__name__}: {failure} (please "
                         "report it)")
        job.upload = None
        shutil.rmtree(job.run_dir, ignore_errors=True)
        job.painting.unlink(missing_ok=True)
        if state != "finished":
            job.model.unlink(missing_ok=True)
            job.sheet.unlink(missing_ok=True)
            job.report = None
        with self._lock:
            job.finished_at = time.time()
            job.error = error
            job.state = job.stage = state
            self._active = None
            self._remember(job)

    def _train(self, job: TrainingJob) -> None:
        """The run itself: the recipe, the report, the style; raises where it stops."""
        settings = self.settings
        self._check_stop(job)
        assert job.upload is not None
        save_image(job.upload, job.painting)
        job.upload = None
        recipe.train_own_style(
            job.painting, job.model, run_dir=job.run_dir, device=settings.device,
            minutes=settings.train_minutes, train_overrides=settings.train_overrides,
            callback=lambda event: self._on_event(job, event),
            should_stop=lambda: self._should_stop(job))
        shutil.rmtree(job.run_dir, ignore_errors=True)
        if settings.train_report:
            self._check_stop(job)
            job.stage = "report"
            report = quality_report.report_on_model(job.model, job.painting)
            job.report = {k: v for k, v in report.items() if k != "sheet"}
        self._check_stop(job)
        job.stage = "adding"
        style, _ = self.worker.add_model(job.model.read_bytes(), job.model.name).result(
            timeout=settings.request_timeout)
        job.style = style.id


def check_overrides(overrides: dict[str, Any]) -> None:
    """Refuse ``ServerSettings.train_overrides`` that name no ``TrainConfig`` field, before
    serving (``TrainConfig.from_dict`` ignores unknown keys, so a typo would go unseen)."""
    known = set(TrainConfig().to_dict())
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise BrushworkError(f"train_overrides: not training settings: {', '.join(unknown)} "
                             f"(known: {', '.join(sorted(known))})")
