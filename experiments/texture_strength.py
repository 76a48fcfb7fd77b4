"""How much texture each painting has beside photos: the Gram norms behind the per-style weight.

    python -m experiments.texture_strength                 # every artwork in shared/data/styles
    python -m experiments.texture_strength great-wave.jpg the-scream.jpg --photos 8

The relative texture loss (``LossConfig.texture_normalisation``) divides each layer's Gram
error by the painting's own Gram. For a painting smoother than a photo (small Grams at
relu2_1-relu4_1) matching it means erasing the photo's own texture, so the same texture
weight takes more of the photo. In the zoo (docs/styles/zoo.md, 5 held-back photos):
every style that lost the photo at weights 3, 6, 3 (whalers, view-of-toledo, circus-sideshow,
the-scream) has a mean relu2_1-relu4_1 ratio of 0.47-1.00; the four shipped ones 1.48-2.23
(garden-at-bougival, at 1.48, needed 2, 4, 2); the-kiss (2.21) needed more than 3, 6, 3.
Prints, per artwork, the root-mean-square of its Gram at each texture layer (long side 512)
over the mean of ``--photos`` held-back photos'; no training.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import torch

from brushwork.evaluation import resize_long_side
from brushwork.hyper_parameters import CONTENT_LAYER, TEXTURE_LAYERS
from brushwork.images import load_image, to_tensor
from brushwork.losses.perceptual import gram
from brushwork.losses.vgg import build_vgg
from experiments.lib.arguments import (
    DEFAULT_HELD_OUT,
    DEFAULT_PHOTOS,
    DEFAULT_STYLES,
    held_out_photos,
)

SIZE = 512


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("artworks", nargs="*", help="files in shared/data/styles (default: all)")
    parser.add_argument("--photos", type=int, default=5, help="held-back photos (max 20)")
    args = parser.parse_args(argv)
    torch.set_grad_enabled(False)
    vgg = build_vgg((*TEXTURE_LAYERS, CONTENT_LAYER))

    def norms(path: Path) -> list[float]:
        features = vgg(resize_long_side(to_tensor(load_image(path)), SIZE))
        return [float(gram(features[layer]).pow(2).mean().sqrt()) for layer in TEXTURE_LAYERS]

    photos = held_out_photos(DEFAULT_HELD_OUT, DEFAULT_PHOTOS, args.photos)
    photo = [statistics.mean(column) for column in zip(*map(norms, photos))]
    names = args.artworks or sorted(p.name for p in DEFAULT_STYLES.glob("*.jpg"))
    print(f"Gram RMS of each artwork over the mean of {len(photos)} held-back photos' "
          f"(long side {SIZE})")
    print("| artwork | " + " | ".join(TEXTURE_LAYERS) + " | mean of relu2_1-relu4_1 |")
    print("|---" * (len(TEXTURE_LAYERS) + 2) + "|")
    for name in names:
        ratios = [a / b for a, b in zip(norms(DEFAULT_STYLES / name), photo)]
        print(f"| {name} | " + " | ".join(f"{r:.2f}" for r in ratios)
              + f" | {statistics.mean(ratios[1:]):.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
