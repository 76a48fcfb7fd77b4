"""Trained-network comparisons (Figs. 5 and 6, the baselines): every network trained at one
budget, its outputs on held-out photos scored, and the report's set-up and results sections.

All training comes first: it is nearly all of the time, and a mistake in a later artwork's
settings should not wait for hours of stylising.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from brushwork import evaluation
from brushwork.images import load_image
from experiments.lib.arguments import SMOKE_SIZE
from experiments.lib.figures import comparison_figure, save_figure
from experiments.lib.reports import markdown_table
from experiments.lib.runs import (
    Trained,
    TrainSpec,
    ensure_trained,
    model_stamp,
    reuse_model,
    shown,
    stylize_photos,
)
from experiments.lib.scoring import Scorer, Scores, pooled, score_table, verdict


@dataclass
class Comparison:
    """Networks trained per artwork at one budget, their outputs on held-out photos, scores."""

    arts: dict[str, Path]
    photos: list[Path]
    trained: dict[str, dict[str, Trained]]  # style -> method -> model
    scorer: Scorer  # the one that scored them (its loss network loaded once), for more scores
    outputs: dict[str, dict[str, list[Path]]] = field(default_factory=dict)
    scores: dict[str, dict[str, Scores]] = field(default_factory=dict)
    photo_scores: dict[str, Scores] = field(default_factory=dict)


def run_comparison(args: argparse.Namespace, specs: dict[str, dict[str, TrainSpec]],
                   arts: dict[str, Path], photos: list[Path], labels: dict[str, str],
                   scales: Sequence[int], heading: str,
                   reuse: dict[tuple[str, str], Path] | None = None) -> Comparison:
    """Train (or resume, skip, reuse) every network, then paint and score the photos with
    each and draw one figure per artwork in ``REPORTS/NAME/STYLE.png``.

    All training comes first: it is nearly all of the time, and a mistake in a later
    artwork's settings should not wait for hours of stylising."""
    reuse = reuse or {}
    models_dir = args.work / "models"
    models_dir.mkdir(exist_ok=True)
    trained: dict[str, dict[str, Trained]] = {}
    for style, by_method in specs.items():
        trained[style] = {}
        for method, spec in by_method.items():
            if (style, method) in reuse:
                trained[style][method] = reuse_model(spec, reuse[style, method])
            else:
                trained[style][method] = ensure_trained(spec, models_dir, args.device)
    scorer = Scorer(scales, smoke=args.smoke)
    result = Comparison(arts, photos, trained, scorer)
    shown_photos = photos[:args.figure_photos]
    for style, art in arts.items():
        result.outputs[style], result.scores[style] = {}, {}
        for method, model in trained[style].items():
            folder = args.work / "outputs" / style / method
            files = [f[-1] for f in stylize_photos(model.path, photos, args.size, folder,
                                                   args.device, args.precision)]
            result.outputs[style][method] = files
            stamp = model_stamp(model.path, size=args.size, precision=args.precision)
            result.scores[style][method] = scorer.score(art, list(zip(photos, files)),
                                                        folder / "scores.json", stamp)
        result.photo_scores[style] = scorer.score(
            art, [(p, p) for p in photos], args.work / "outputs" / style / "photo-scores.json",
            {"photo": True})
        figure = comparison_figure(
            art, shown_photos, {m: f[:len(shown_photos)] for m, f in result.outputs[style].items()},
            labels, args.size, f"{heading}, {style}: outputs at {args.size} px")
        save_figure(figure, args.reports / args.name / f"{style}.png")
    return result


def model_record(model: Trained) -> dict[str, Any]:
    """A trained network as the JSON beside a report lists it."""
    return {"file": shown(model.path), "status": model.status, "iterations": model.iterations,
            "wall_hours": round(model.hours, 3), "parameters": model.parameters,
            "record": model.record}


def setup_lines(args: argparse.Namespace, comparison: Comparison, scales: Sequence[int],
                labels: dict[str, str]) -> list[str]:
    """Budget, test photos, metric and the rule for a win; then every network's record."""
    n = len(comparison.photos)
    content = SMOKE_SIZE if args.smoke else evaluation.CONTENT_SIZE
    lines = [
        "## Set-up and budget", "",
        f"- **Budget, equal for every network**: {args.iterations} training iterations, batch "
        f"1, {args.crop_size}x{args.crop_size} crops of the photos in `{shown(args.data)}` in "
        f"the same order (seed {getattr(args, 'seed', 0)}), Adam at 1e-3 x 0.8 every 2,000 "
        "iterations (the paper's schedule; its full budget is 10,000 iterations). Wall time "
        "and device per network are in the table below.",
        f"- **Test**: the first {n} photos of `{shown(args.held_out)}` (never trained on), "
        f"painted with long side {args.size} px (aspect kept), inference in {args.precision}.",
        "- **Metric**: `brushwork eval` (`src/brushwork/evaluation.py`), unchanged: style "
        "distance at scale s = sum over relu1_1, relu2_1, relu3_1, relu4_1 of the mean squared "
        "difference of Gram matrices, output and artwork both resized to long side s; content "
        "distance = mean squared difference of relu4_2 features, output and photo at long "
        f"side {content}. Lower is better. Style distances at different scales are not "
        "comparable with each other, only between methods at one scale.",
        "- **Who wins**: a method wins at a scale when its distance is lower than each other "
        "method's on more than half of the photos (sign test p-values beside the counts: the "
        "chance of so uneven a split if neither method tended to be lower).",
        "",
    ]
    rows = []
    for style, models in comparison.trained.items():
        art = load_image(comparison.arts[style])
        for method, model in models.items():
            spec = model.spec
            rows.append([style, labels[method], spec.arch, f"{model.parameters:,}",
                         " / ".join(str(s) for s in spec.loss.style_sizes),
                         " / ".join(f"{w:g}" for w in spec.loss.texture_weights),
                         model.iterations, f"{model.hours:.2f}",
                         model.record.get("device", "?")
                         + (" bf16" if model.record.get("bf16") else ""), model.status])
        resized = ", ".join(f"x{s / max(art.size):.2f} at {s} px" for s in scales)
        lines.append(f"- `{comparison.arts[style].name}` is {art.width}x{art.height} px: "
                     f"the metric resizes it {resized}.")
    lines += ["", markdown_table(
        ["style", "network", "arch", "parameters", "artwork long side(s) in training",
         "texture weight(s)", "iterations", "wall h", "device", "this run"], rows), ""]
    budgets = {t.iterations for models in comparison.trained.values() for t in models.values()}
    if len(budgets) > 1:
        lines += [f"**The budgets are not equal** (iterations {sorted(budgets)}): the "
                  "comparison below is not at an equal budget.", ""]
    lines += ["The same networks from the command line:", "", "```"]
    for models in comparison.trained.values():
        for model in models.values():
            lines.append(model.spec.command(model.path))
    return [*lines, "```", ""]


def results_lines(args: argparse.Namespace, comparison: Comparison, scales: Sequence[int],
                  labels: dict[str, str], focus: str) -> tuple[list[str], dict[str, Any]]:
    """Per artwork (and pooled): the score table, a verdict per scale, the figure; and
    ``{style or "all": {scale: focus wins}}``."""
    lines: list[str] = ["## Results", ""]
    wins: dict[str, dict[str, bool]] = {}

    def verdicts(scores: dict[str, Scores], key: str) -> None:
        wins[key] = {}
        for scale in scales:
            sentence, won = verdict(scores, labels, focus, scale)
            wins[key][str(scale)] = won
            lines.append(f"- {sentence}")
        lines.append(f"- {verdict(scores, labels, focus, None)[0]}")
        lines.append("")

    for style in comparison.trained:
        lines += [f"### {style}", "", score_table(comparison.scores[style], labels, scales,
                                                  comparison.photo_scores[style]), ""]
        verdicts(comparison.scores[style], style)
        lines += [f"![{style}]({args.name}/{style}.png)", ""]
    if len(comparison.trained) > 1:
        together = pooled(comparison.scores)
        count = len(comparison.trained) * len(comparison.photos)
        lines += [f"### All {len(comparison.trained)} artworks together ({count} "
                  "photo-artwork pairs)", "", score_table(together, labels, scales), ""]
        verdicts(together, "all")
    lines += ["## Answer", ""]
    for key, by_scale in wins.items():
        won = [s for s, w in by_scale.items() if w]
        lost = [s for s, w in by_scale.items() if not w]
        where = "all artworks pooled" if key == "all" else key
        if not lost:
            lines.append(f"- {where}: {labels[focus]} wins at every scale ({', '.join(won)} px).")
        elif not won:
            lines.append(f"- {where}: {labels[focus]} does not win at any scale.")
        else:
            lines.append(f"- {where}: {labels[focus]} wins at {', '.join(won)} px and does not "
                         f"win at {', '.join(lost)} px.")
    lines += ["", f"Scores per photo: `{args.name}.json` (`scores`). Figures: overviews with the "
              "crop region outlined (where the photo has the most edges, chosen from the photo "
              "alone), and 1:1 crops of the outputs at full resolution.", ""]
    return lines, wins


def comparison_data(comparison: Comparison) -> dict[str, Any]:
    """What the JSON beside a comparison report holds besides its summary."""
    return {"models": {s: {m: model_record(t) for m, t in ms.items()}
                       for s, ms in comparison.trained.items()},
            "photos": [p.name for p in comparison.photos],
            "scores": comparison.scores, "photo_scores": comparison.photo_scores}
