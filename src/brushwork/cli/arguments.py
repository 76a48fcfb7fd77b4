"""What the commands share: the argument types (each a one-line error for argparse) and
``library_default``, through which every default comes from the library."""

from __future__ import annotations

import argparse
import inspect
from typing import TYPE_CHECKING, Any

from ..errors import BrushworkError
from ..images import DEFAULT_MAX_PIXELS

if TYPE_CHECKING:
    from collections.abc import Callable


#: The pixel limit as ``--help`` shows it (``images.DEFAULT_MAX_PIXELS``).
MAX_PIXELS_TEXT = f"{DEFAULT_MAX_PIXELS / 1e6:.1f}M"


def library_default(function: Callable[..., Any], name: str) -> Any:
    """The default of ``function``'s parameter ``name``: the library owns its defaults and the
    command line reads them from its signatures, so the two cannot drift apart."""
    return inspect.signature(function).parameters[name].default


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


def _float(text: str, minimum_exclusive: bool) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")) or value < 0 or (
        minimum_exclusive and value == 0
    ):
        kind = "positive" if minimum_exclusive else "non-negative"
        raise argparse.ArgumentTypeError(f"must be a {kind} finite number, got {text}")
    return value


def non_negative_float(text: str) -> float:
    return _float(text, minimum_exclusive=False)


def positive_float(text: str) -> float:
    return _float(text, minimum_exclusive=True)


def weight(text: str) -> float:
    return _float(text, minimum_exclusive=False)


def fraction(text: str) -> float:
    value = _float(text, minimum_exclusive=False)
    if value > 1:
        raise argparse.ArgumentTypeError(f"must be from 0 to 1, got {text}")
    return value


def decay(text: str) -> float:
    """From 0 (off) up to, not including, 1."""
    value = fraction(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"must be from 0 up to (not including) 1, got {text}")
    return value


def quality(text: str) -> int:
    value = positive_int(text)
    if value > 100:
        raise argparse.ArgumentTypeError(f"must be from 1 to 100, got {value}")
    return value


def port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be from 0 to 65535, got {value}")
    return value


def pixels(text: str) -> int:
    from ..images import parse_pixels

    try:
        return parse_pixels(text)
    except BrushworkError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def seconds(text: str) -> float:
    value = positive_float(text)
    if value > 86400:
        raise argparse.ArgumentTypeError(f"must be at most 86400 (a day), got {text}")
    return value


def memory(text: str) -> int:
    from ..tiling import parse_memory

    try:
        return parse_memory(text)
    except BrushworkError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
