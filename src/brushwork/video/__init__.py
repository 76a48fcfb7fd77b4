"""Painting clips: reading and writing with PyAV, steady brushwork, its measure.

``stylize_clip`` paints a clip file into another, sound copied (``probe_clip`` reads its
header first, for limits); ``Steadier`` blends each painted frame with the previous one
along the input's optical flow; ``WarpingError`` is Lai et al.'s (ECCV 2018)
temporal-stability measure. Needs the ``video`` extra (PyAV, OpenCV).
"""

from .clip import (
    VIDEO_SUFFIXES,
    ClipCancelled,
    ClipInfo,
    ClipRecord,
    FrameProgress,
    is_video_path,
    probe_clip,
    read_frames,
    stylize_clip,
)
from .steady import Steadier, SteadyStep
from .warping_error import WarpingError, pair_error, warping_error

__all__ = [
    "VIDEO_SUFFIXES", "ClipCancelled", "ClipInfo", "ClipRecord", "FrameProgress", "Steadier",
    "SteadyStep", "WarpingError", "is_video_path", "pair_error", "probe_clip", "read_frames",
    "stylize_clip", "warping_error",
]
