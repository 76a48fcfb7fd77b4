"""How many colours a style paints: chroma spread of ours, the peer's, the photo and the painting.

    python -m experiments.palette_spread starry-night [--photos 10]

The zoo's pictures are two-tone ramps of the photo's luminance where the peer keeps a second
colour (docs/styles/zoo.md). This puts a number on it: for each image, the standard deviation
of its BT.601 chroma (Cb, Cr, in [0, 1] units) over its pixels, and the share of chroma
variance that the luminance explains (R^2 of a linear fit of Cb and Cr on Y: 1 for a pure
ramp, ~0 when colour is independent of brightness). Means over the first held-back photos at
1024 px; peer outputs come from ``peer_compare``'s cache (``runs/peer``) or are painted.
"""

from __future__ import annotations

import argparse
import statistics

import torch

from brushwork.api import load_model
from brushwork.images import load_image, to_tensor
from brushwork.losses.colour import chroma
from brushwork.networks.multimodal import luminance
from experiments import peer_compare
from experiments.lib.arguments import DEFAULT_HELD_OUT, DEFAULT_PHOTOS, held_out_photos
from experiments.mix_compare import artwork


def spread(image: torch.Tensor) -> dict[str, float]:
    y = luminance(image)[0, 0].flatten()
    cb, cr = chroma(image)[0].flatten(1)
    out = {"chroma std": float(torch.sqrt(cb.var() + cr.var()))}
    design = torch.stack([y, torch.ones_like(y)], dim=1)
    explained = 0.0
    for c in (cb, cr):
        coef = torch.linalg.lstsq(design, c[:, None]).solution
        residual = c - (design @ coef)[:, 0]
        explained += float(c.var() - residual.var())
    out["luma-explained"] = explained / max(float(cb.var() + cr.var()), 1e-12)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model")
    parser.add_argument("--photos", type=int, default=10)
    args = parser.parse_args(argv)
    torch.set_grad_enabled(False)
    art = artwork(args.model)
    model = load_model(args.model)
    engine = peer_compare.peer_engine()
    rows: dict[str, list[dict]] = {"painting": [spread(to_tensor(load_image(art)))],
                                   "photo": [], "ours": [], "peer": []}
    for path in held_out_photos(DEFAULT_HELD_OUT, DEFAULT_PHOTOS,
                                       args.photos):
        photo = load_image(path)
        rows["photo"].append(spread(to_tensor(photo)))
        rows["ours"].append(spread(to_tensor(model.stylize(photo, peer_compare.SIZE))))
        rows["peer"].append(spread(to_tensor(peer_compare.peer_painting(engine, path, art))))
    print(f"{args.model} ({art.name}); {args.photos} held-back photos at {peer_compare.SIZE} px")
    print("| image | chroma std | share of chroma variance explained by luminance |")
    print("|---|---|---|")
    for name, values in rows.items():
        print(f"| {name} | {statistics.mean(v['chroma std'] for v in values):.4f} | "
              f"{statistics.mean(v['luma-explained'] for v in values):.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
