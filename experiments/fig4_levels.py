"""Fig. 4: what each level of MT-Net adds: y1, y2, y3 and the differences between them.

    python -m experiments.fig4_levels                        # the built-in starry-night model
    python -m experiments.fig4_levels --model runs/experiments/fig6/models/X-mtnet.safetensors
    python -m experiments.fig4_levels --smoke                # seconds, in a temporary folder

Paper Fig. 4: the outputs of the style, enhance and refine subnets (256, 512, 1024 px) and the
absolute differences photo - y1, y1 - y2 and y2 - y3: the style subnet changes colour and
coarse texture, the enhance subnet strengthens the texture, the refine subnet adds detail.
Here, for held-out photos: the three levels shown at one size; amplified differences
|photo - y1|, |y2 - up(y1)| and |y3 - up(y2)|, where up() is the bilinear resize MT-Net
itself applies between subnets (so each difference is exactly what that subnet changed in
its input); 1:1 crops at the full resolution; and per level the mean absolute difference
and the style distance (``brushwork eval``'s metric) to the model's artwork. No training.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path

import torch
from PIL import Image

from brushwork.api import available_styles, resolve_model_path
from brushwork.errors import BrushworkError
from brushwork.evaluation import EVAL_SCALES
from brushwork.images import load_image, to_image, to_tensor
from brushwork.model_files import read_model_file, save_model
from brushwork.networks.multimodal import MTNet, resize
from experiments.lib.arguments import (
    SMOKE_SCALES,
    add_common_arguments,
    held_out_photos,
    log,
    run_main,
    settle,
    style_path,
)
from experiments.lib.figures import (
    Row,
    Tile,
    crop_side,
    detail_box,
    fit,
    grid,
    outline,
    save_figure,
)
from experiments.lib.reports import (
    discussion,
    markdown_table,
    provenance,
    report_head,
    write_report,
    write_summary,
)
from experiments.lib.runs import SMOKE_NETWORKS, model_stamp, shown, stylize_photos
from experiments.lib.scoring import Scorer, Scores, content_values, score_table, style_values

NAME = "fig4"
PHOTOS, SIZE, MODEL = 6, 1024, "starry-night"
#: Largest automatic amplification of a difference image.
MAX_GAIN = 16.0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m experiments.fig4_levels", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Writes REPORTS/fig4.md, REPORTS/fig4/PHOTO.png, REPORTS/fig4.json. Cost of the "
               "defaults on a 2-core CPU: about 5 minutes.")
    add_common_arguments(parser, PHOTOS, SIZE)
    parser.add_argument("--model", help=f"MT-Net model: a built-in style or a file (default "
                                        f"{MODEL}; smoke: a tiny random MT-Net)")
    parser.add_argument("--style",
                        help="artwork for the style distances (default: the model's own, by "
                             "file name in --styles-dir; skipped if not found)")
    parser.add_argument("--every-style", action=argparse.BooleanOptionalAction, default=None,
                        help="also measure every other built-in style level by level (no "
                             "pictures; default: on for the built-in model, off for --model "
                             "and smoke runs)")
    parser.add_argument("--gain", type=float,
                        help="amplification of the difference images (default: per image, "
                             "so that its 99th percentile is white, at most x16; the factor "
                             "is printed on each)")
    return parser


def smoke_model(work: Path) -> Path:
    """A tiny MT-Net with seeded random weights, for smoke runs (its levels still differ)."""
    path = work / "tiny-mtnet.safetensors"
    if not path.is_file():
        config = SMOKE_NETWORKS["mtnet"]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(4)
            network = MTNet(config)
        save_model(path, network, {"architecture": "mtnet", "network": config.to_dict(),
                                   "styles": [{"file": "starry-night.jpg"}],
                                   "record": {"iterations": 0}})
    return path


def differences(photo: Path, levels: list[Path]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Each level's input as the network saw it (the photo, or the previous level resized
    bilinearly as between subnets) and |level - that input|, both at the level's size."""
    inputs, diffs = [], []
    previous = to_tensor(load_image(photo))
    for path in levels:
        level = to_tensor(load_image(path))
        seen = resize(previous, tuple(level.shape[-2:])).clamp(0, 1)
        inputs.append(seen)
        diffs.append((level - seen).abs())
        previous = level
    return inputs, diffs


def amplification(difference: torch.Tensor, gain: float | None) -> float:
    """``gain``, or the factor that makes the 99th percentile of the per-pixel largest
    channel difference white (a fixed factor either saturates the style subnet's large
    change or hides the refine subnet's small one)."""
    if gain is not None:
        return gain
    level = float(torch.quantile(difference.amax(dim=1).flatten().float(), 0.99))
    return min(MAX_GAIN, max(1.0, 1.0 / level)) if level > 0 else MAX_GAIN


def figure(photo: Path, levels: list[Path], gain: float | None, size: int) -> Image.Image:
    """Overviews, amplified differences, and 1:1 crops at the final level's resolution."""
    overview, crop = min(320, size), crop_side(size)
    images = [load_image(p) for p in levels]
    final = images[-1].size
    original = load_image(photo).resize(final, Image.Resampling.LANCZOS)
    box = detail_box(original, final, crop)
    _, diffs = differences(photo, levels)
    gains = [amplification(d, gain) for d in diffs]
    diff_images = [to_image(d * g) for d, g in zip(diffs, gains)]
    blank = Tile(Image.new("RGB", (1, 1), "white"))

    def full(image: Image.Image) -> Image.Image:  # shown at the final size, as MT-Net upsamples
        return to_image(resize(to_tensor(image), (final[1], final[0])))

    names = [f"y{k} ({im.width}x{im.height})" for k, im in enumerate(images, start=1)]
    diff_names = ["|photo - y1|"] + [f"|y{k} - up(y{k - 1})|" for k in range(2, len(images) + 1)]
    rows = [
        Row([Tile(outline(fit(original, overview), box, final),
                                "photo")]
                   + [Tile(outline(fit(im, overview), box, final), name)
                      for im, name in zip(images, names)], "levels"),
        Row([blank] + [Tile(fit(d, overview), f"{name} x{g:.1f}")
                              for d, name, g in zip(diff_images, diff_names, gains)],
                   "differences"),
        Row([Tile(original.crop(box), "photo, 1:1")]
                   + [Tile(full(im).crop(box), f"y{k}, 1:1 at {final[0]} px")
                      for k, im in enumerate(images, start=1)], "1:1 crops"),
        Row([blank] + [Tile(full(d).crop(box), f"{name} x{g:.1f}, 1:1")
                              for d, name, g in zip(diff_images, diff_names, gains)],
                   "1:1 differences"),
    ]
    return grid(rows, f"Fig. 4 analogue: {photo.name}, MT-Net levels at {size} px")


def measure(args: argparse.Namespace, model: Path, art: Path | None, photos: Sequence[Path],
            scorer: Scorer, folder: Path,
            ) -> tuple[list[list[Path]], dict[str, list[float]], dict[str, Scores]]:
    """One model's levels on the photos (cached in ``folder``): the files, each level's mean
    absolute change per photo (pixel values in 0..1), and each level's scores against
    ``art`` with the photo's own as ``"photo"`` (empty without an artwork)."""
    made = stylize_photos(model, photos, args.size, folder, args.device,
                                 args.precision, levels=True)
    change: dict[str, list[float]] = {}
    for photo, levels in zip(photos, made):
        _, diffs = differences(photo, levels)
        change[photo.stem] = [float(d.mean()) for d in diffs]
    style_scores: dict[str, Scores] = {}
    if art is not None:
        stamp = model_stamp(model, size=args.size, precision=args.precision)
        for k in range(len(made[0])):
            style_scores[f"y{k + 1}"] = scorer.score(
                art, [(p, levels[k]) for p, levels in zip(photos, made)],
                folder / f"scores-y{k + 1}.json", stamp)
        style_scores["photo"] = scorer.score(art, [(p, p) for p in photos],
                                             folder / "scores-photo.json", {"photo": True})
    return made, change, style_scores


def every_style_lines(others: dict[str, tuple[Path, tuple[dict, dict]]],
                      main_model: dict[str, tuple[Path | None, tuple[dict, dict]]],
                      scales: Sequence[int], n_photos: int) -> list[str]:
    """Per shipped style and level: mean change and mean distances, and at each scale the
    level nearest the painting."""
    header = ["style (artwork)", "level", "mean change"] + [f"style @{s}" for s in scales] + [
        "content"]
    rows: list[list[object]] = []
    nearest: dict[int, dict[str, int]] = {s: {} for s in scales}
    for name, (art, (change, scores)) in {**main_model, **others}.items():
        if art is None:
            continue
        levels = [k for k in scores if k != "photo"]
        for index, level in enumerate(levels):
            rows.append([f"{name} ({art.name})" if index == 0 else "", level,
                         statistics.fmean(v[index] for v in change.values())]
                        + [statistics.fmean(style_values(scores[level], s))
                           for s in scales]
                        + [statistics.fmean(content_values(scores[level]))])
        for s in scales:
            best = min(levels, key=lambda lv: statistics.fmean(style_values(scores[lv],
                                                                                   s)))
            nearest[s][best] = nearest[s].get(best, 0) + 1
    summary = "; ".join(f"at {s} px " + ", ".join(f"{lv} for {n}" for lv, n in
                                                    sorted(nearest[s].items()))
                        for s in scales)
    return ["## Every shipped style, level by level", "",
            f"The same measures for each built-in style on the same {n_photos} photos (no "
            "pictures): the mean absolute change each level makes to its input, and each "
            "level's mean distances to the style's own (coarse) artwork. Level nearest the "
            f"painting, counted over the {sum(nearest[scales[0]].values())} styles: "
            f"{summary}.",
            "", markdown_table(header, rows), ""]


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = settle(build_parser().parse_args(argv), NAME, PHOTOS, SIZE)
    if args.model:
        model = resolve_model_path(args.model)
    else:
        model = smoke_model(args.work) if args.smoke else resolve_model_path(MODEL)
    _, metadata = read_model_file(model)
    if metadata.get("architecture") != "mtnet":
        raise BrushworkError(f"{model} is a {metadata.get('architecture')}, not an MT-Net: "
                             "Fig. 4 needs its levels")
    photos = held_out_photos(args.held_out, args.photos_dir, args.photos)
    scales = SMOKE_SCALES if args.smoke else EVAL_SCALES
    scorer = Scorer(scales, smoke=args.smoke)
    art = _artwork(args.styles_dir, args.style, metadata)
    made, change, style_scores = measure(args, model, art, photos, scorer, args.work / "levels")
    for photo, levels in list(zip(photos, made))[:args.figure_photos]:
        save_figure(figure(photo, levels, args.gain, args.size),
                           args.reports / NAME / f"{photo.stem}.png")
    n_levels = len(made[0])
    every_style = (not args.smoke and not args.model) if args.every_style is None \
        else args.every_style
    others = {}
    if every_style:
        for name in available_styles():
            other = resolve_model_path(name)
            if other.resolve() == model.resolve():
                continue
            _, other_metadata = read_model_file(other)
            other_art = _artwork(args.styles_dir, None, other_metadata)
            if other_art is not None:
                others[name] = (other_art, measure(args, other, other_art, photos, scorer,
                                                   args.work / "styles" / name)[1:])
                log(f"{NAME}: {name} measured level by level")

    info = provenance(args.device)
    record = metadata.get("record", {})
    lines = report_head(args, argv, "fig4_levels.py",
                               f"Fig. 4 analogue: what each level of MT-Net adds, at {args.size}"
                               " px", info)
    sizes = " / ".join(f"{load_image(p).width}x{load_image(p).height}" for p in made[0])
    lines += [
        "## Set-up", "",
        f"- **Model**: `{shown(model)}` (MT-Net; trained {record.get('iterations', '?')} "
        f"iterations, {float(record.get('wall_seconds', 0)) / 3600:.2f} h on "
        f"{record.get('device', '?')}; artwork "
        f"{', '.join(s.get('file', '?') for s in metadata.get('styles', [])) or '?'}). "
        "No training here.",
        f"- **Photos**: the first {len(photos)} of `{shown(args.held_out)}` (never "
        f"trained on), long side {args.size} px, inference in {args.precision}; levels of the "
        f"first photo: {sizes}.",
        "- **Differences**: |photo - y1| (paper Fig. 4 f), |y2 - up(y1)| and |y3 - up(y2)| "
        "(g, h), where up() is MT-Net's own bilinear resize between subnets, so each is what "
        "that subnet changed in its input; pictures amplified by the factor printed on "
        "each" + (f" (x{args.gain:g})." if args.gain else
                  " (per picture: its 99th percentile made white, at most x16)."),
        "",
        "## Mean absolute change per level", "",
        "Pixel values in 0..1, averaged over the level's pixels and channels.", "",
    ]
    header = ["photo", "|photo - y1|"] + [f"|y{k} - up(y{k - 1})|"
                                          for k in range(2, n_levels + 1)]
    rows = [[stem, *values] for stem, values in change.items()]
    rows.append(["**mean**", *[statistics.fmean(v[k] for v in change.values())
                               for k in range(n_levels)]])
    lines += [markdown_table(header, rows), ""]
    if style_scores:
        lines += [
            "## Style distance of each level", "",
            f"`brushwork eval`'s metric against `{art.name}` (each output resized by the metric "
            "to each scale; lower is closer to the artwork), over the same photos; the photo "
            "itself for reference.", "",
            score_table({k: v for k, v in style_scores.items() if k != "photo"},
                               {f"y{k}": f"y{k}" for k in range(1, n_levels + 1)}, scales,
                               style_scores["photo"], first="level"), "",
        ]
    else:
        lines += ["(No style distances: the model's artwork was not found; give --style.)", ""]
    if others:
        lines += every_style_lines(others, {model.stem: (art, (change, style_scores))}, scales,
                                   len(photos))
    lines += ["## Pictures", ""]
    for photo in photos[:args.figure_photos]:
        lines += [f"![{photo.stem}]({NAME}/{photo.stem}.png)", ""]
    lines += discussion("_To be written after looking at the pictures: what each "
                               "subnet changes (colour, coarse texture, brushwork)._")
    write_report(args.reports / f"{NAME}.md", "\n".join(lines))
    write_summary(args.reports, NAME, {
        "title": "Fig. 4: what each level adds (y1, y2, y3 and their differences)",
        "report": f"{NAME}.md", "smoke": args.smoke, "provenance": info,
        "budget": f"no training; model {shown(model)} "
                  f"({record.get('iterations', '?')} iterations); {len(photos)} held-out "
                  f"photos at {args.size} px",
    }, {"model": shown(model), "photos": [p.name for p in photos],
        "mean_abs_change": change, "style_scores": style_scores,
        "every_style": {name: {"artwork": other_art.name, "mean_abs_change": other_change,
                               "style_scores": other_scores}
                        for name, (other_art, (other_change, other_scores)) in others.items()}})
    log(f"{NAME}: report {args.reports / (NAME + '.md')}")
    return 0


def _artwork(styles_dir: Path, style: str | None, metadata: dict) -> Path | None:
    """``style`` if given, else the model's first artwork found in ``styles_dir``."""
    if style:
        return style_path(styles_dir, style)
    for entry in metadata.get("styles", []):
        path = styles_dir / entry.get("file", "")
        if entry.get("file") and path.is_file():
            return path
    return None


if __name__ == "__main__":
    sys.exit(run_main(main, None))
