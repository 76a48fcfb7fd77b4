"""Scores: the style and content distances of outputs on held-out photos, and how methods
compare on them (means, medians, per-photo wins with a sign test).

Scores are cached beside a stamp of the model that made the outputs and recomputed only when
it changes; the loss network is loaded once per ``Scorer``.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from brushwork import evaluation
from brushwork.hyper_parameters import (
    CONTENT_LAYER,
    TEXTURE_LAYERS,
)
from brushwork.images import load_image, to_tensor
from brushwork.losses.vgg import VGG19Features, build_vgg
from experiments.lib.arguments import SMOKE_SIZE
from experiments.lib.reports import markdown_table


class Scorer:
    """``brushwork eval``'s metric (``brushwork.evaluation.Evaluator``, unchanged), with one
    loss network for every artwork and scores cached in JSON beside the images."""

    def __init__(self, scales: Sequence[int], smoke: bool = False) -> None:
        self.scales = tuple(scales)
        self.smoke = smoke
        self._vgg: VGG19Features | None = None
        self._evaluators: dict[Path, evaluation.Evaluator] = {}

    def evaluator(self, style: Path) -> evaluation.Evaluator:
        if self._vgg is None:
            self._vgg = build_vgg((*TEXTURE_LAYERS, CONTENT_LAYER))
        if style not in self._evaluators:
            self._evaluators[style] = evaluation.Evaluator(
                to_tensor(load_image(style)), self.scales, self._vgg)
        return self._evaluators[style]

    @property
    def content_size(self) -> int:
        """Long side of the content distance: the library's, except in smoke runs, whose
        64-px outputs would otherwise be blown up to 512 px for it (seconds per image)."""
        return SMOKE_SIZE if self.smoke else evaluation.CONTENT_SIZE

    def score(self, style: Path, pairs: Sequence[tuple[Path, Path]], cache: Path,
              stamp: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """Scores of each (photo, image) pair, by photo stem: ``{"style": {scale: d},
        "content": d}``. Cached in ``cache`` under ``stamp`` (plus the scales and sizes)."""
        stamp = {**stamp, "style": str(style.resolve()), "scales": list(self.scales),
                 "content_size": self.content_size}
        stored = json.loads(cache.read_text()) if cache.is_file() else {}
        scores: dict[str, dict[str, Any]] = (
            stored.get("scores", {}) if stored.get("stamp") == stamp else {})
        for photo, image in pairs:
            if photo.stem in scores:
                continue
            evaluator = self.evaluator(style)
            output, reference = to_tensor(load_image(image)), to_tensor(load_image(photo))
            if self.smoke:  # the library's metric, at the smoke size (restored at once)
                saved, evaluation.CONTENT_SIZE = evaluation.CONTENT_SIZE, self.content_size
                try:
                    result = evaluator.score(output, reference)
                finally:
                    evaluation.CONTENT_SIZE = saved
            else:
                result = evaluator.score(output, reference)
            scores[photo.stem] = {"style": {str(s): v for s, v in result.style.items()},
                                  "content": result.content}
            cache.write_text(json.dumps({"stamp": stamp, "scores": scores}, indent=1))
        return {stem: scores[stem] for stem in (p.stem for p, _ in pairs)}


def style_values(scores: dict[str, dict[str, Any]], scale: int) -> list[float]:
    return [row["style"][str(scale)] for row in scores.values()]


def content_values(scores: dict[str, dict[str, Any]]) -> list[float]:
    return [row["content"] for row in scores.values()]


def mean_median(values: Sequence[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.median(values)


def pairwise(scores: dict[str, dict[str, dict[str, Any]]], focus: str, other: str,
             scale: int | None) -> tuple[int, int, int]:
    """Photos on which ``focus`` has the lower distance than ``other``, the higher, and the
    same: (wins, losses, ties). ``scale`` None compares the content distance."""
    def value(method: str, stem: str) -> float:
        row = scores[method][stem]
        return row["content"] if scale is None else row["style"][str(scale)]

    stems = list(scores[focus])
    wins = sum(value(focus, s) < value(other, s) for s in stems)
    losses = sum(value(focus, s) > value(other, s) for s in stems)
    return wins, losses, len(stems) - wins - losses


def sign_test(wins: int, losses: int) -> float:
    """Two-sided exact binomial sign test (ties dropped): the chance of a split at least this
    uneven if each method were as likely to be lower on any photo."""
    n = wins + losses
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(wins, losses) + 1)) / 2**n
    return min(1.0, 2 * tail)


Scores = dict[str, dict[str, Any]]  # photo stem -> {"style": {scale: d}, "content": d}


def score_table(scores: dict[str, Scores], labels: dict[str, str], scales: Sequence[int],
                photo: Scores | None = None, first: str = "method") -> str:
    """Mean and median per method of the style distance at each scale and the content
    distance; the unstylised photo's own distances as a reference row."""
    header = [first]
    for scale in scales:
        header += [f"style @{scale} mean", "median"]
    header += ["content mean", "median"]
    rows = []
    named = [(labels[m], s) for m, s in scores.items()]
    if photo is not None:
        named.append(("photo itself (reference)", photo))
    for label, table in named:
        row: list[Any] = [label]
        for scale in scales:
            row += list(mean_median(style_values(table, scale)))
        row += list(mean_median(content_values(table)))
        rows.append(row)
    return markdown_table(header, rows)


def lowest(scores: dict[str, Scores], scale: int | None) -> tuple[str, str]:
    """Methods with the lowest mean and the lowest median (``scale`` None: content)."""
    def values(method: str) -> list[float]:
        table = scores[method]
        return content_values(table) if scale is None else style_values(table, scale)

    by_mean = min(scores, key=lambda m: statistics.fmean(values(m)))
    by_median = min(scores, key=lambda m: statistics.median(values(m)))
    return by_mean, by_median


def verdict(scores: dict[str, Scores], labels: dict[str, str], focus: str,
            scale: int | None) -> tuple[str, bool]:
    """One plain sentence on who wins at ``scale`` (None: content distance), and whether
    ``focus`` wins: its distance is lower than every other method's on more than half of the
    photos. Facts only: counts, the sign test, the lowest mean and median."""
    what = "content distance" if scale is None else f"style distance at {scale} px"
    n = len(scores[focus])
    parts, wins_all = [], True
    for other in scores:
        if other == focus:
            continue
        wins, losses, ties = pairwise(scores, focus, other, scale)
        wins_all &= wins > n / 2
        tie_text = f", {ties} ties" if ties else ""
        parts.append(f"lower than {labels[other]} on {wins} of {n} photos{tie_text} "
                     f"(sign test p = {sign_test(wins, losses):.2g})")
    by_mean, by_median = lowest(scores, scale)
    lead = (f"lowest mean: {labels[by_mean]}" if by_mean == by_median else
            f"lowest mean: {labels[by_mean]}, lowest median: {labels[by_median]}")
    if by_mean == by_median:
        lead += " (also the lowest median)"
    outcome = (f"**{labels[focus]} wins**" if wins_all
               else f"**{labels[focus]} does not win**")
    return (f"{what}: {outcome}; {labels[focus]} is {'; '.join(parts)}; {lead}.", wins_all)


def pooled(scores_per_style: dict[str, dict[str, Scores]]) -> dict[str, Scores]:
    """Every style's photos in one table per method (keys ``style/photo``)."""
    methods = next(iter(scores_per_style.values())).keys()
    return {m: {f"{style}/{stem}": row for style, table in scores_per_style.items()
                for stem, row in table[m].items()} for m in methods}
