"""Training a user's own style in the server: one run at a time, in a thread of its own.

A run is ``recipe.train_own_style``, what ``brushwork train --style PAINTING`` does, then the
quality report (``quality_report.report_on_model``, skippable: ``ServerSettings.train_report``),
then the model is offered as a style through the painting worker's upload path
(``Worker.add_model``), so the user can paint with it at once and it is checked exactly as an
uploaded model file is. How long each part takes: docs/styles/own-painting.md.

One run at a time, in its own thread, as ``single_job`` runs every long job: two runs on one
machine each go more than twice as slow (DEVELOPERS.md measures it) and on a GPU they double
the memory, so a second request is refused at once (``TrainingBusy``, HTTP 409).

Files: each run has a folder in the server's temporary folder: the painting (decoded and
written as PNG, so the run reads exactly what was checked), the run folder (checkpoints,
previews: deleted when the run ends; the latest preview is kept in memory), the model file
and the report sheet, deleted when the run is forgotten (``keep_trainings`` newer ones) or
the server stops. A cancelled or failed run leaves no model file.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from .. import quality_report, recipe
from ..errors import BrushworkError
from ..hyper_parameters import TrainConfig
from ..images import save_image
from ..training import TrainingEvent, TrainingInterrupted
from .settings import ServerSettings
from .single_job import JobBusy, JobsOff, SingleJob, SingleJobRunner, Stopped, UnknownJobId
from .work import QueueFull, Worker


class TrainingBusy(JobBusy):
    """A style is already training: one run at a time (HTTP 409)."""


class TrainingOff(JobsOff):
    """This server does not train styles (``ServerSettings.training`` off; HTTP 403)."""


class UnknownTraining(UnknownJobId):
    """No training has this id (never started, or forgotten after ``keep_trainings``)."""


@dataclass(kw_only=True)
class TrainingJob(SingleJob):
    """One painting being learnt, and what has come of it so far. ``name`` is the painting's
    file name without its suffix: the style's title. Its stages: queued | preparing (the
    recipe: nearest built-in style, texture weights) | training | report | adding (loaded and
    offered as a style) | finished | cancelled | failed."""

    #: The decoded painting until the run has written it to its folder (then None: it can be
    #: the biggest thing a run holds).
    upload: Image.Image | None = field(default=None, repr=False)
    iteration: int = 0
    iterations: int = 0
    elapsed: float = 0.0  # training seconds (the budget counts these)
    budget: float = 0.0  # seconds, 0: none
    preview_jpeg: bytes | None = None
    preview_iteration: int = 0
    report: dict[str, Any] | None = None
    style: str | None = None
    messages: list[str] = field(default_factory=list)

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

    def where(self) -> str:
        return (f"iteration {self.iteration} of {self.iterations}" if self.iteration
                else self.stage)

    def cancelled_message(self) -> str:
        return f"cancelled at iteration {self.iteration}"

    def seconds_left(self) -> float | None:
        """Training seconds left: the iterations left at the rate so far, or the budget left
        if that ends sooner (None before the first iteration: no rate yet). The report, when
        on, comes after these."""
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


class Trainer(SingleJobRunner[TrainingJob]):
    """Trains at most one style at a time, each in a new thread; remembers ended runs."""

    noun, url, kept = "training", "/v1/trainings", "finished"
    busy_message = "a style is already training"
    out_of_memory = "not enough memory to train now: try again when the server is idle"
    first_stage = "preparing"
    temporary_prefix, folder_prefix = "brushwork-training-", "run-"
    busy_error, unknown_error = TrainingBusy, UnknownTraining

    def __init__(self, settings: ServerSettings, worker: Worker) -> None:
        super().__init__(settings.keep_trainings)
        self.settings = settings
        self.worker = worker

    def _refuse_if_off(self) -> None:
        if not self.settings.training:
            raise TrainingOff("this server does not train styles: train with 'brushwork "
                              "train --style PAINTING' and upload the model file")

    def start(self, painting: Image.Image, name: str) -> TrainingJob:
        """Start learning ``painting`` (decoded, checked); ``name`` is a safe file stem."""
        return self._launch(lambda: TrainingJob(name=name, folder=self.new_folder(),
                                                upload=painting))

    # ------------------------------------------------------------------------ the run

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

    def _work(self, job: TrainingJob) -> None:
        try:
            self._train(job)
        except (TrainingInterrupted, QueueFull) as stop:  # a cancel, or the worker closing
            raise Stopped from stop

    def _clean_up(self, job: TrainingJob, finished: bool) -> None:
        job.upload = None
        shutil.rmtree(job.run_dir, ignore_errors=True)
        job.painting.unlink(missing_ok=True)
        if not finished:
            job.model.unlink(missing_ok=True)
            job.sheet.unlink(missing_ok=True)
            job.report = None

    def _train(self, job: TrainingJob) -> None:
        """The run itself: the recipe, the report, the style; raises where it stops."""
        settings = self.settings
        self.check_stop(job)
        assert job.upload is not None
        save_image(job.upload, job.painting)
        job.upload = None
        recipe.train_own_style(
            job.painting, job.model, run_dir=job.run_dir, device=settings.device,
            minutes=settings.train_minutes, train_overrides=settings.train_overrides,
            callback=lambda event: self._on_event(job, event),
            should_stop=lambda: self.should_stop(job))
        shutil.rmtree(job.run_dir, ignore_errors=True)
        if settings.train_report:
            self.check_stop(job)
            job.stage = "report"
            report = quality_report.report_on_model(job.model, job.painting)
            job.report = {k: v for k, v in report.items() if k != "sheet"}
        self.check_stop(job)
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
