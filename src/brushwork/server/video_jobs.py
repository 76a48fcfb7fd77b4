"""Painting a clip in the server: one clip at a time, in a thread of its own.

A job is ``video.stylize_clip``, exactly what ``brushwork stylize clip.mp4 -o painted.mp4``
runs (sound copied, timestamps kept, steady brushwork, painted upright), with its
``on_frame`` hook feeding the job's progress (frames done, frames per second, time left) and
its ``should_stop`` hook answering a cancel between frames.

One clip at a time, in its own thread, as ``single_job`` runs every long job: a second clip
is refused at once (``VideoBusy``, HTTP 409). Why the job loads its own copy of the style's
model rather than the worker's cached one: the two threads then never run one network at
once.

Limits are checked in the cheapest order (``check_clip``): the body's size by the HTTP layer
from Content-Length before the upload is read, then the clip's frame size, duration and frame
count from its header before a frame is painted; ``stylize_clip`` holds the frame count and
frame size again while painting, since a header can lie.

Files: each job has a folder in the server's temporary folder holding the upload (deleted
when the job ends, however it ends) and the painted clip (written atomically by
``stylize_clip``, so a cancelled or failed job leaves none), deleted when the job is
forgotten (``keep_videos`` newer ones) or the server stops.
"""

from __future__ import annotations

import importlib.util
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import BrushworkError
from .settings import ServerSettings
from .single_job import JobBusy, JobsOff, SingleJob, SingleJobRunner, Stopped, UnknownJobId
from .styles import Style

#: Audio codecs the MP4 muxer takes as they are (PyAV's FFmpeg 8, tried one by one); a clip
#: with any other sound (Vorbis, say) is written as Matroska, which holds anything.
MP4_AUDIO = frozenset({"aac", "mp3", "mp3float", "mp2", "ac3", "eac3", "opus", "flac",
                       "alac"})
MEDIA_TYPES = {".mp4": "video/mp4", ".mkv": "video/x-matroska"}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class VideoBusy(JobBusy):
    """A clip is already being painted: one at a time (HTTP 409)."""


class VideoOff(JobsOff):
    """This server does not paint clips (``ServerSettings.video`` off, or no video extra;
    HTTP 403)."""


class UnknownVideo(UnknownJobId):
    """No clip job has this id (never started, or forgotten after ``keep_videos``)."""


class ClipTooLarge(BrushworkError):
    """A clip over one of the server's limits, by its header (HTTP 413)."""


def video_extra_missing() -> str | None:
    """The module of the video extra that is not installed (PyAV, OpenCV), or None."""
    for module, name in (("av", "PyAV"), ("cv2", "OpenCV")):
        if importlib.util.find_spec(module) is None:
            return name
    return None


def check_clip(info: Any, settings: ServerSettings, name: str) -> None:
    """Refuse a clip whose header says it is over the limits (``ClipTooLarge``), or that does
    not say how long it is (``BrushworkError``: its cost could not be bounded up front)."""
    if info.pixels > settings.video_max_pixels:
        raise ClipTooLarge(
            f"{name}: frames of {info.width}x{info.height} are over this server's limit of "
            f"{settings.video_max_pixels:,} pixels (brushwork serve --video-max-pixels)")
    if info.seconds is None and info.frames is None:
        raise BrushworkError(f"{name}: the clip's header gives neither its duration nor its "
                             "frame count")
    if info.seconds is not None and info.seconds > settings.video_max_seconds:
        raise ClipTooLarge(
            f"{name}: the clip is {info.seconds:.1f} s long, over this server's limit of "
            f"{settings.video_max_seconds:g} s (brushwork serve --video-max-seconds)")
    if info.frames is not None and info.frames > settings.video_max_frames:
        raise ClipTooLarge(
            f"{name}: the clip has {info.frames} frames, over this server's limit of "
            f"{settings.video_max_frames} ({settings.video_max_seconds:g} s at "
            f"{settings.video_max_fps:g} frames a second)")


def output_suffix(audio_codecs: tuple[str, ...]) -> str:
    """.mp4 (H.264, plays in every browser) unless a sound track would not fit in it."""
    fits = all(codec in MP4_AUDIO or codec.startswith("pcm_") for codec in audio_codecs)
    return ".mp4" if fits else ".mkv"


@dataclass(kw_only=True)
class VideoJob(SingleJob):
    """One clip being painted, and what has come of it so far. ``name`` is the clip's file
    name without its suffix, for the download's name. Its stages: queued | loading |
    painting | finished | cancelled | failed."""

    input: Path
    style: Style
    size: int
    strength: float = 1.0
    preserve_color: bool = False
    steady: bool = True
    #: What the header said: width, height, seconds, frames, audio codecs (``ClipInfo``).
    info: Any = None
    frames_done: int = 0
    frames_total: int | None = None
    seconds: float = 0.0  # since painting began
    width: int = 0
    height: int = 0
    rotated: int = 0
    cuts: int = 0
    device: str = ""

    @property
    def output(self) -> Path:
        style = _UNSAFE.sub("-", self.style.id).strip("-.")[:60] or "style"  # a mix: a:0.6,b:0.4
        return self.folder / f"{self.name}-{style}{self.suffix}"

    @property
    def suffix(self) -> str:
        return output_suffix(self.info.audio if self.info is not None else ())

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.suffix]

    def where(self) -> str:
        return (f"frame {self.frames_done} of {self.frames_total or '?'}" if self.frames_done
                else self.stage)

    def cancelled_message(self) -> str:
        return f"cancelled after {self.frames_done} frames"

    @property
    def fps(self) -> float | None:
        return self.frames_done / self.seconds if self.frames_done and self.seconds else None

    def seconds_left(self) -> float | None:
        """The frames left at the rate so far (None before the first frame: no rate yet)."""
        fps = self.fps
        if self.state != "running" or not fps or not self.frames_total:
            return None
        return round(max(0, self.frames_total - self.frames_done) / fps, 1)

    @property
    def progress(self) -> float:
        if self.state == "finished":
            return 1.0
        if not self.frames_total:
            return 0.0
        return round(min(self.frames_done / self.frames_total, 0.99), 3)

    def to_dict(self) -> dict[str, Any]:
        url = f"/v1/videos/{self.id}"
        finished = self.state == "finished"
        info = self.info
        fps = self.fps
        return {
            "id": self.id, "state": self.state, "stage": self.stage, "clip": self.name,
            "style": self.style.id, "size": self.size, "strength": self.strength,
            "preserve_color": self.preserve_color, "steady": self.steady,
            "frames_done": self.frames_done, "frames_total": self.frames_total,
            "progress": self.progress, "fps": round(fps, 2) if fps else None,
            "elapsed_seconds": round(self.seconds, 1), "seconds_left": self.seconds_left(),
            "input": None if info is None else {
                "width": info.width, "height": info.height,
                "seconds": None if info.seconds is None else round(info.seconds, 3),
                "frames": info.frames, "audio_streams": len(info.audio)},
            "width": self.width or None, "height": self.height or None,
            "rotated": self.rotated, "cuts": self.cuts, "device": self.device or None,
            "result": f"{url}/result" if finished else None,
            "filename": self.output.name if finished else None,
            "media_type": self.media_type if finished else None,
            "error": self.error,
        }


class VideoPainter(SingleJobRunner[VideoJob]):
    """Paints at most one clip at a time, each in a new thread; remembers ended ones."""

    noun, url, kept = "video", "/v1/videos", "ended"
    busy_message = "a clip is already being painted"
    out_of_memory = ("not enough memory for this clip now: try a smaller size, or again when "
                     "the server is idle")
    first_stage = "loading"
    temporary_prefix, folder_prefix = "brushwork-videos-", "clip-"
    busy_error, unknown_error = VideoBusy, UnknownVideo

    def __init__(self, settings: ServerSettings) -> None:
        for name in ("video_max_upload", "video_max_seconds", "video_max_fps",
                     "video_max_pixels", "video_max_size"):  # before the port is taken
            if not getattr(settings, name) > 0:
                raise BrushworkError(f"{name} must be positive, not {getattr(settings, name)}")
        super().__init__(settings.keep_videos)
        self.settings = settings
        self.missing = video_extra_missing()

    @property
    def available(self) -> bool:
        return self.settings.video and self.missing is None

    def _refuse_if_off(self) -> None:
        if not self.settings.video:
            raise VideoOff("this server does not paint clips: paint them with 'brushwork "
                           "stylize clip.mp4 -o painted.mp4'")
        if self.missing is not None:
            raise VideoOff(f"this server cannot paint clips: {self.missing} is not installed "
                           "(pip install 'brushwork[video]')")

    def start(self, job: VideoJob) -> VideoJob:
        """Start painting ``job`` (its upload checked, in a folder from ``new_folder``)."""
        return self._launch(lambda: job)

    # ------------------------------------------------------------------------ the run

    def _work(self, job: VideoJob) -> None:
        from ..video import ClipCancelled, FrameProgress, stylize_clip

        def on_frame(event: FrameProgress) -> None:
            job.frames_done, job.seconds = event.done, event.seconds
            if event.total:
                job.frames_total = max(event.total, event.done)

        self.check_stop(job)
        settings = self.settings
        model = job.style.load(settings)
        job.device = str(model.device)
        job.stage = "painting"
        try:
            record = stylize_clip(
                model, job.input, job.output, job.size, preserve_color=job.preserve_color,
                strength=job.strength, steady=job.steady, max_memory=settings.max_memory,
                max_pixels=settings.video_max_pixels, max_frames=settings.video_max_frames,
                on_frame=on_frame, should_stop=lambda: self.should_stop(job))
        except ClipCancelled as stop:
            raise Stopped from stop
        job.width, job.height = record.size
        job.rotated, job.cuts = record.rotated, record.cuts
        job.frames_done = job.frames_total = record.frames
        job.seconds = record.seconds

    def _failure(self, job: VideoJob, failure: BrushworkError) -> str:
        """The message without the server's paths: they are not the client's business."""
        return (str(failure).replace(str(job.input), job.name)
                .replace(str(job.folder) + os.sep, ""))

    def _clean_up(self, job: VideoJob, finished: bool) -> None:
        job.input.unlink(missing_ok=True)
        if not finished:
            job.output.unlink(missing_ok=True)
