"""Everything ``brushwork serve`` can set (``ServerSettings``), each default with its reason.

Its own module, importing nothing of the server, so that the command line reads these
defaults without loading the server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ServerSettings:
    """Everything ``brushwork serve`` can set; the command line reads its defaults here."""

    models: list[Path] = field(default_factory=list)
    max_size: int = 4096
    max_upload: int = 64 * 1024**2
    queue: int = 8
    device: str = "auto"
    precision: str = "auto"
    max_memory: int | None = None
    #: Largest photo accepted, width x height (None: ``images.default_max_pixels()``, i.e.
    #: $BRUSHWORK_MAX_PIXELS or Pillow's default); checked from the header, before decoding.
    max_pixels: int | None = None
    #: Seconds a request may take, queueing included; then 503 (ours: a 4096-px painting
    #: behind a full queue on a 2-core CPU fits, a stuck client does not hold a slot forever).
    request_timeout: float = 300.0
    #: Photos decoded at once (ours): decoding a 64 MB upload can take ~1 GB for a moment, so
    #: a burst of uploads waits its turn here instead of multiplying that.
    decoders: int = 2
    #: Finished jobs whose results stay in memory (ours: a session's worth; a 4096-px PNG is
    #: ~30 MB, so this bounds the server's memory at a few hundred MB).
    keep_jobs: int = 16
    #: Uploaded models kept; the oldest is forgotten first.
    max_uploads: int = 8
    #: Models kept loaded at once; the least recently used is dropped first.
    cached_models: int = 4
    #: The address the server is bound to: a request's Host must name it (or, for a loopback
    #: address, localhost), so that a web page cannot reach it by DNS rebinding (``guard``).
    host: str = "127.0.0.1"
    #: More names to answer to (--allowed-host): a proxy's public name; "*" turns the Host
    #: check off. Pages from these names may also write (upload, paint).
    allowed_hosts: tuple[str, ...] = ()
    #: Seconds a client may take to send a request head (ours: a browser sends it in one
    #: packet; 10 s is room for a slow link, and a stalled client is cut off; ``connections``).
    header_timeout: float = 10.0
    #: Seconds a request body may stall without a byte (ours: a mobile upload that pauses for
    #: this long has failed; a slow but steady one is never cut off).
    idle_timeout: float = 30.0
    #: Whether users may train a style on their own painting (POST /v1/trainings; ours: on,
    #: as everything else here; a shared server that should only paint turns it off).
    training: bool = True
    #: A training's time budget in minutes (None: the library's, ``TrainConfig.minutes``,
    #: 25: the recipe's at most 375 iterations take 6-9 minutes on a 2-core AVX-512 BF16 CPU
    #: and ~11 on AVX2 (docs/styles/own-painting.md), so the budget only cuts a much slower
    #: machine's run short, which still ends with a model; 0: no budget).
    train_minutes: float | None = None
    #: ``TrainConfig`` fields laid over the recipe's (empty: the recipe as ``brushwork
    #: train`` runs it; tests give tiny crops and a few iterations).
    train_overrides: dict[str, Any] = field(default_factory=dict)
    #: The quality report after a training (ours: on, as ``brushwork train`` does; 3 photos
    #: painted at 1024 px and scored, 30-40 s on a 2-core CPU, ~90 s with the peer
    #: installed on a busy one; tests turn it off).
    train_report: bool = True
    #: Ended trainings remembered (their model files and report sheets kept on disk); the
    #: oldest is forgotten and its files deleted first (ours: a session's worth, ~8 MB each).
    keep_trainings: int = 4
    #: Whether clips may be painted (POST /v1/videos; ours: on, as training is; needs the
    #: video extra, and the page hides its video section without it).
    video: bool = True
    #: Largest clip upload, bytes, refused from Content-Length before it is read (ours: 50
    #: MB: 30 s of a phone's 1080p H.264 at ~12 Mbit/s is ~45 MB). Not bounded by
    #: ``max_upload``, which is for photos and models.
    video_max_upload: int = 50 * 1024**2
    #: Longest clip, seconds, read from its header before any frame is painted (ours: 30 s:
    #: at 720 px a 2-core CPU paints ~4 frames a second, so a 30-fps clip takes ~4 minutes).
    video_max_seconds: float = 30.0
    #: Frames allowed per second of that limit: a clip may have at most ``video_max_seconds``
    #: x this many frames (ours: 60, phones' fast mode; slow motion at 120-240 frames a
    #: second costs 2-4x the work its duration says). Enforced while painting too, since a
    #: header can understate its frames.
    video_max_fps: float = 60.0
    #: Largest clip frame, width x height, from the header and again for every frame (ours:
    #: 1080p, 1920 x 1080 either way up).
    video_max_pixels: int = 1920 * 1080
    #: Largest painted long side of a clip (ours: 1920, a 1080p frame's; at most
    #: ``max_size``).
    video_max_size: int = 1920
    #: Ended clip jobs remembered, their painted clips kept on disk; the oldest is forgotten
    #: and its file deleted first (ours: 4; a painted clip is about its input's size).
    keep_videos: int = 4

    @property
    def video_max_frames(self) -> int:
        return max(1, int(self.video_max_seconds * self.video_max_fps))
