"""Painting a clip: decode, paint, encode, one frame at a time, sound copied untouched.

PyAV (FFmpeg's libraries, bundled in its wheels) reads what FFmpeg reads (H.264, HEVC,
MPEG-2, VP9, AV1...) and copies audio packets from one container to another without decoding
them, which OpenCV's VideoCapture/VideoWriter (the peer's choice) cannot: they drop the sound
and rewrite timestamps at a fixed rate. Each painted frame keeps its input frame's timestamp,
so a variable frame rate and the duration survive. Only the previous frame is kept (the steady
mode's), so memory does not grow with the clip's length. A phone clip stored sideways with a
display matrix (a rotation flag) is painted upright and written without the flag: the
network then sees the picture as people do (its strokes have a direction), and every player
shows the result the same way, including those that ignore the flag.

``probe_clip`` reads what the container's header says (frame size, duration, frame count)
without painting anything, so that a server can refuse a clip over its limits before the
work; ``stylize_clip``'s ``on_frame`` and ``should_stop`` let it report progress and cancel.

The output is written to a temporary sibling and renamed into place when the clip is done
(``images.atomic_output``): Ctrl-C, a crash or an unreadable frame leave no file behind.
Errors PyAV reports (a truncated, corrupt or hostile file) become one-line ``BrushworkError``s.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from ..errors import BrushworkError
from ..hyper_parameters import VIDEO_DEFAULTS, VideoConfig
from ..images import atomic_output, default_max_pixels
from ..levels import check_size, scaled_size

if TYPE_CHECKING:
    from ..api import Stylizer

#: File suffixes the command line treats as clips rather than photos.
VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".webm", ".mpg", ".mpeg", ".avi",
                            ".ts", ".mts", ".m2ts", ".flv", ".ogv", ".3gp"})
#: Output suffix -> (FFmpeg muxer, video encoder). H.264 plays everywhere; WebM needs VP9.
OUTPUT_FORMATS = {
    ".mp4": ("mp4", "libx264"), ".m4v": ("mp4", "libx264"), ".mov": ("mov", "libx264"),
    ".mkv": ("matroska", "libx264"), ".webm": ("webm", "libvpx-vp9"),
}
#: Demuxers FFmpeg may use on an input (ours): containers of single files only. Playlist and
#: concat formats (HLS, DASH, ffconcat) open other files and URLs named inside a file, so a
#: hostile "clip" could read any file of the machine into the painting.
INPUT_DEMUXERS = ("mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,mpeg,mpegts,mpegvideo,avi,flv,ogg,"
                  "h264,hevc,m4v,ivf,av1,obu")
#: Only plain files are read (no network, no pipes to other programs).
INPUT_PROTOCOLS = "file"


def is_video_path(path: str | Path) -> bool:
    return Path(str(path)).suffix.lower() in VIDEO_SUFFIXES


def _av() -> Any:
    try:
        import av
    except ImportError:
        raise BrushworkError("painting video needs PyAV: pip install 'brushwork[video]'"
                             ) from None
    return av


class ClipCancelled(BrushworkError):
    """``stylize_clip`` stopped because its ``should_stop`` said so (no output is left)."""


@dataclass(frozen=True)
class ClipInfo:
    """What a clip's header says, before any frame is painted (``probe_clip``): the video
    stream's frame size as stored, its duration and frame count (None where the header
    does not say; ``frames`` is estimated from the duration when only that is known), its
    frame rate, and the codec of each audio stream."""

    width: int
    height: int
    seconds: float | None
    frames: int | None
    rate: float
    audio: tuple[str, ...]

    @property
    def pixels(self) -> int:
        return self.width * self.height


@dataclass(frozen=True)
class FrameProgress:
    """Handed to ``on_frame`` after each frame: frames done, the clip's frame count as its
    header tells it (None when it does not), seconds since painting began."""

    done: int
    total: int | None
    seconds: float


@dataclass(frozen=True)
class ClipRecord:
    """What was painted: for the command's summary line and ``--json``."""

    input: str
    output: str
    size: tuple[int, int]
    frames: int
    seconds: float
    audio_streams: int
    steady: bool
    cuts: int
    #: Degrees (counter-clockwise) the frames were turned to be upright: the input's display
    #: matrix, 0 for most clips.
    rotated: int = 0


def output_format(path: str | Path) -> tuple[str, str]:
    suffix = Path(str(path)).suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        raise BrushworkError(f"cannot write a clip to {path}: use a suffix of "
                             f"{', '.join(OUTPUT_FORMATS)}")
    return OUTPUT_FORMATS[suffix]


def _even(height: int, width: int) -> tuple[int, int]:
    """4:2:0 video needs even sides: one row or column at most is dropped."""
    return max(2, height - height % 2), max(2, width - width % 2)


def _rate(stream: Any) -> Fraction:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return Fraction(rate) if rate else Fraction(25)


def frame_count(stream: Any, container: Any) -> int | None:
    """The clip's frames from its header, or estimated from its duration; None if neither."""
    if stream.frames:
        return int(stream.frames)
    duration = clip_seconds(stream, container)
    return round(duration * float(_rate(stream))) if duration else None


def clip_seconds(stream: Any, container: Any) -> float | None:
    """The video stream's duration in seconds from the header, else the container's."""
    if stream.duration:
        return float(stream.duration * stream.time_base)
    return container.duration / 1e6 if container.duration else None


def probe_clip(path: str | Path) -> ClipInfo:
    """What ``path``'s header says about its video and audio, read without painting a frame.

    Opening runs FFmpeg's stream probe, bounded by its own limits (it reads at most a few
    megabytes and may decode a frame or two where a header leaves the pixel format out);
    the frames themselves are not decoded. A header can lie: ``stylize_clip``'s
    ``max_frames`` and ``max_pixels`` hold while painting whatever the header said.
    """
    av = _av()
    container = open_clip(path)
    try:
        if not container.streams.video:
            raise BrushworkError(f"{path} has no video stream")
        video = container.streams.video[0]
        if not video.width or not video.height:
            raise BrushworkError(f"{path}: the video stream has no frame size")
        return ClipInfo(int(video.width), int(video.height), clip_seconds(video, container),
                        frame_count(video, container), float(_rate(video)),
                        tuple(stream.codec_context.name for stream in container.streams.audio))
    except av.error.FFmpegError as error:
        raise BrushworkError(f"cannot read {path} as a clip: {_reason(error)}") from None
    finally:
        container.close()


def open_clip(path: str | Path) -> Any:
    """An opened input container, only single-file demuxers and the file protocol."""
    av = _av()
    if not Path(path).is_file():
        raise BrushworkError(f"no such clip: {path}")
    try:
        return av.open(str(path), "r", metadata_errors="replace", container_options={
            "format_whitelist": INPUT_DEMUXERS, "protocol_whitelist": INPUT_PROTOCOLS})
    except av.error.FFmpegError as error:
        raise BrushworkError(f"cannot read {path} as a clip: {_reason(error)}") from None


def _reason(error: Exception) -> str:
    text = getattr(error, "strerror", None) or str(error)
    return " ".join(str(text).split())


def read_frames(path: str | Path, size: int | None = None) -> Iterator[np.ndarray]:
    """A clip's frames as RGB uint8 arrays, long side ``size`` (as painted) or as stored;
    for measurements and tests."""
    av = _av()
    container = open_clip(path)
    try:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            image = frame.to_image()
            if size is not None:
                image = image.resize(painted_size(image.height, image.width, size)[::-1],
                                     Image.Resampling.LANCZOS)
            yield np.asarray(image)
    except av.error.FFmpegError as error:
        raise BrushworkError(f"cannot read {path}: {_reason(error)}") from None
    finally:
        container.close()


#: A display matrix's rotation (degrees counter-clockwise, as ``VideoFrame.rotation`` reads
#: it) -> the turn that makes a stored frame upright. Other angles and mirrored matrices are
#: left as stored (phones write only these four).
_UPRIGHT = {90: Image.Transpose.ROTATE_90, 180: Image.Transpose.ROTATE_180,
            270: Image.Transpose.ROTATE_270}


def _rotation(source: str | Path) -> int:
    """The first frame's display-matrix rotation, 0, 90, 180 or 270 (0 for anything else).

    PyAV reads a display matrix only from decoded frames, and the output's frame size must
    be set before its first packet is written (audio packets may come before the first
    frame), so the first frame is decoded once on its own. A clip that cannot be decoded
    says nothing here; the painting loop reports it.
    """
    av = _av()
    container = open_clip(source)
    try:
        if not container.streams.video:
            return 0
        for frame in container.decode(container.streams.video[0]):
            degrees = round(frame.rotation or 0) % 360
            return degrees if degrees in _UPRIGHT else 0
    except av.error.FFmpegError:
        return 0
    finally:
        container.close()
    return 0


def painted_size(height: int, width: int, size: int) -> tuple[int, int]:
    """(H, W) of a clip's painted frames: long side ``size``, each side rounded down to even."""
    return _even(*scaled_size(height, width, size))


def stylize_clip(
    stylizer: Stylizer, source: str | Path, target: str | Path, size: int = 1024, *,
    preserve_color: bool = False, strength: float = 1.0, steady: bool = True,
    max_memory: int | str | None = None, max_pixels: int | None = None,
    max_frames: int | None = None,
    on_frame: Callable[[FrameProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    config: VideoConfig = VIDEO_DEFAULTS,
) -> ClipRecord:
    """Paint every frame of ``source`` into ``target`` (.mp4, .mov, .mkv, .webm).

    Frames are painted at long side ``size`` (each side rounded down to even, as 4:2:0 video
    needs) exactly as ``Stylizer.stylize`` paints photos, then, with ``steady``, blended
    along the input's motion (``steady.Steadier``). Audio streams are copied packet for
    packet; other streams (subtitles, data) are dropped. A clip stored sideways (a display
    matrix of 90, 180 or 270 degrees) is painted upright. ``max_pixels`` refuses frames
    larger than that from the header, before decoding, and any larger frame met later;
    ``max_frames`` stops a clip with more frames than that (a header can understate them).

    ``on_frame`` is called after each frame with the progress; ``should_stop`` before each
    frame, and when it returns true the painting stops with ``ClipCancelled`` and leaves no
    output (the command line's Ctrl-C, a server's cancel).
    """
    from .steady import Steadier

    av = _av()
    check_size(size)
    muxer, codec = output_format(target)
    limit = max_pixels if max_pixels is not None else default_max_pixels()
    steadier = Steadier(config) if steady else None
    began = time.perf_counter()
    container = open_clip(source)
    try:
        if not container.streams.video:
            raise BrushworkError(f"{source} has no video stream")
        video = container.streams.video[0]
        if not video.width or not video.height:
            raise BrushworkError(f"{source}: the video stream has no frame size")
        if limit and video.width * video.height > limit:
            raise BrushworkError(f"{source}: frames of {video.width}x{video.height} are over "
                                 f"the limit of {limit:,} pixels")
        video.thread_type = "AUTO"
        audio = list(container.streams.audio)
        total = frame_count(video, container)
        rotated = _rotation(source)
        upright = (video.width, video.height) if rotated in (90, 270) else (video.height,
                                                                            video.width)
        height, width = painted_size(*upright, size)
        done = cuts = 0
        with atomic_output(target) as file, av.open(file, "w", format=muxer) as output:
            out_video = output.add_stream(codec, rate=_rate(video))
            out_video.width, out_video.height, out_video.pix_fmt = width, height, "yuv420p"
            out_video.time_base = video.time_base
            out_video.codec_context.time_base = video.time_base
            if codec == "libx264":
                out_video.options = {"crf": str(config.crf), "preset": config.preset}
            copies = {stream.index: output.add_stream_from_template(stream)
                      for stream in audio}
            previous_pts: int | None = None
            for packet in container.demux(video, *audio):
                if packet.stream.index in copies:
                    if packet.dts is not None:  # an empty packet marks the stream's end
                        packet.stream = copies[packet.stream.index]
                        output.mux(packet)
                    continue
                for frame in packet.decode():
                    if should_stop is not None and should_stop():
                        raise ClipCancelled(f"stopped after {done} frames of {source}")
                    if max_frames is not None and done >= max_frames:
                        raise BrushworkError(f"{source} has more than {max_frames} frames "
                                             "(the limit)")
                    if limit and frame.width * frame.height > limit:
                        raise BrushworkError(f"{source}: frame {done + 1} is {frame.width}x"
                                             f"{frame.height}, over the limit of {limit:,} "
                                             "pixels")
                    painted, step_cut = _paint(stylizer, frame, (height, width), size,
                                               steadier, preserve_color, strength,
                                               max_memory, rotated)
                    cuts += step_cut
                    out = av.VideoFrame.from_ndarray(painted, format="rgb24")
                    pts = frame.pts
                    if pts is None or (previous_pts is not None and pts <= previous_pts):
                        step = round(1 / (_rate(video) * video.time_base))
                        pts = 0 if previous_pts is None else previous_pts + max(1, step)
                    out.pts, out.time_base, previous_pts = pts, video.time_base, pts
                    output.mux(out_video.encode(out))
                    done += 1
                    if on_frame is not None:
                        on_frame(FrameProgress(done, total,
                                               time.perf_counter() - began))
            output.mux(out_video.encode(None))
            if not done:
                raise BrushworkError(f"no frames could be read from {source}")
            if video.frames and done < video.frames - 1:
                raise BrushworkError(f"{source} ends after {done} of its {video.frames} "
                                     "frames: the file is truncated")
    except av.error.FFmpegError as error:
        raise BrushworkError(f"cannot paint {source}: {_reason(error)}") from None
    finally:
        container.close()
    return ClipRecord(str(source), str(target), (width, height), done,
                      round(time.perf_counter() - began, 3), len(audio), steady, cuts,
                      rotated)


def _paint(stylizer: Stylizer, frame: Any, shape: tuple[int, int], size: int,
           steadier: Any, preserve_color: bool, strength: float,
           max_memory: int | str | None, rotated: int = 0) -> tuple[np.ndarray, bool]:
    """One frame painted (RGB uint8, ``shape``), turned upright by ``rotated`` degrees
    first, steadied when ``steadier`` is given; and whether it began a new shot."""
    image = frame.to_image()
    if rotated:
        image = image.transpose(_UPRIGHT[rotated])
    painting = stylizer.stylize(image, size, max_memory, preserve_color=preserve_color,
                                strength=strength)
    height, width = shape
    painted = np.asarray(painting)[:height, :width]
    if steadier is None:
        return np.ascontiguousarray(painted), False
    # The steadier reads the input only at the flow's size (480 px): the decoded frame as it
    # is, not resized to the painting's size first (a Lanczos resize to 1280 x 720 cost
    # 15 ms a frame, a fifth of steadying there).
    painted, step = steadier(np.asarray(image), np.ascontiguousarray(painted))
    return painted, step.cut
