"""Style mixing: ``starry-night:0.6,great-wave:0.4`` paints with a blend of styles.

Two ways to blend, chosen per mix (``MIX_MODES``):

- **weights**: one network whose every weight is the weighted mean of the styles' weights.
  It costs one painting, and it mixes the *styles* (strokes and palette meet in one texture),
  but it only works for networks that started from the same weights: the built-in styles are
  all fine-tuned from the same starry-night network (``experiments/zoo.py``), and a model
  fine-tuned with ``--init-from`` records that lineage (``model_files.lineage``). Between
  networks trained independently the mean of the weights is a network nobody trained
  (docs/styles/mixing.md measures both).
- **outputs**: each style paints the photo and the paintings are averaged, level by level.
  Any models mix this way, at the cost of one painting per style, and the result is a
  double exposure of two paintings rather than one painting in a mixed style.

"auto" (the default) mixes weights where the lineage allows and outputs elsewhere.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import torch

from .errors import BrushworkError, quoted
from .model_files import lineage

#: How a mix is computed: see the module docstring.
MIX_MODES = ("auto", "weights", "outputs")
#: Most styles in one mix (ours: each one costs a model in memory, and a painting with
#: "outputs"; the web page offers two).
MAX_MIX_PARTS = 8


@dataclass(frozen=True)
class MixPart:
    """One style of a mix and its share (the shares of a mix sum to 1)."""

    source: str | Path  # a built-in style name or a model file, as ``api.load_model`` takes
    weight: float


def parse_mix(text: str) -> list[MixPart] | None:
    """``"a:0.6,b:0.4"`` -> parts with shares summing to 1; None when ``text`` is no mix.

    A part without a weight counts 1 (``"a,b"`` is half and half). Weights are relative:
    ``a:3,b:1`` is ``a:0.75,b:0.25``. A text with neither ``,`` nor ``:`` is one style, as is
    an existing file whose name holds them (the server, which never takes file names, calls
    ``split_mix`` directly).
    """
    if ("," not in text and ":" not in text) or Path(text).is_file():
        return None
    return normalise(split_mix(text), text)


def split_mix(text: str) -> list[tuple[str, float]]:
    """The (name, weight) pairs written in ``text``, weights as written (not normalised)."""
    parts: list[tuple[str, float]] = []
    for item in text.split(","):
        name, sep, weight_text = item.strip().rpartition(":")
        if not sep:
            name, weight_text = weight_text, "1"
        if not name:
            raise BrushworkError(f"style mix {quoted(text)}: each part is NAME or NAME:WEIGHT")
        try:
            weight = float(weight_text)
        except ValueError:
            raise BrushworkError(f"style mix {quoted(text)}: {quoted(weight_text)} is not a "
                                 "number (write NAME:WEIGHT, e.g. starry-night:0.6)") from None
        parts.append((name.strip(), weight))
    return parts


def normalise(parts: Sequence[tuple[str | Path, float]], text: str = "") -> list[MixPart]:
    """Check weights (finite, >= 0, not all 0) and scale them to sum to 1."""
    label = quoted(text) if text else "style mix"
    if not 1 <= len(parts) <= MAX_MIX_PARTS:
        raise BrushworkError(f"{label}: a mix has 1 to {MAX_MIX_PARTS} styles")
    if any(not math.isfinite(w) or w < 0 for _, w in parts):
        raise BrushworkError(f"{label}: weights must be finite and >= 0")
    total = sum(w for _, w in parts)
    if total <= 0:
        raise BrushworkError(f"{label}: the weights add up to 0")
    return [MixPart(source, w / total) for source, w in parts if w > 0]


def mix_label(parts: list[MixPart], names: list[str]) -> str:
    """The canonical text of a mix (its id on the server, its name in a model's metadata)."""
    return ",".join(f"{name}:{part.weight:.3g}" for name, part in zip(names, parts))


def can_mix_weights(metadatas: list[dict]) -> bool:
    """Whether networks share architecture, widths and lineage (see the module docstring)."""
    first = metadatas[0]
    return all(m.get("architecture") == first.get("architecture")
               and m.get("network") == first.get("network")
               and lineage(m) is not None and lineage(m) == lineage(first)
               for m in metadatas)


def mix_weights(tensor_sets: list[dict[str, torch.Tensor]],
                weights: list[float]) -> dict[str, torch.Tensor]:
    """The weighted mean of each tensor over the networks (same names and shapes)."""
    return {name: cast(torch.Tensor, sum(w * tensors[name]
                                         for tensors, w in zip(tensor_sets, weights)))
            for name in tensor_sets[0]}
