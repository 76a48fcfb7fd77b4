"""Is the painting's palette within the loss's reach? A probe on a trained model.

    python -m experiments.palette_probe MODEL [--style ART] [--photos 10] [--size 256]

A model that keeps the photo but paints it in one tone (Starry Night in teal, without its
yellows) could be there for two reasons: the loss prefers that tone (the content term pulls the
colours towards the photo's harder than the texture term pulls them towards the painting's), or
the loss would prefer the painting's palette but training has not found it yet. The probe tells
which, without training: it takes the model's output y on held-back photos and the same output
recoloured to the painting's colour statistics, y' (mean and covariance of RGB matched; shapes
and strokes untouched), and scores both with the training loss of level 1 (relu4_2 content
against the photo, Gram texture against the painting, both at ``--size``, the level's weights).
If y' has a clearly lower total loss, the palette is within reach and the loss wants it.

A second table gives each texture layer's error relative to the painting's Gram (the default
"relative" loss), for the plain Gram and for the Gram about the feature mean (the palette term,
``LossConfig.centred_layers``): how much recolouring to the painting's palette would gain each.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import torch

from brushwork.api import load_model
from brushwork.hyper_parameters import (
    CONTENT_LAYER,
    RELATIVE_TEXTURE_UNIT,
    TEXTURE_LAYERS,
    LossConfig,
)
from brushwork.images import load_image, to_tensor
from brushwork.losses.colour import colour_statistics, recolour_batch
from brushwork.losses.perceptual import (
    centred_gram,
    content_loss,
    gram,
    relative_layer_scales,
    resize_long_side,
    texture_loss,
)
from brushwork.losses.vgg import build_vgg
from experiments.lib.arguments import (
    DEFAULT_HELD_OUT,
    DEFAULT_PHOTOS,
    DEFAULT_STYLES,
    held_out_photos,
    log,
)


def recolour(image: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``image`` with the mean and covariance of ``target``'s RGB (a linear map per pixel:
    ``losses.colour.recolour_batch``, as ``LossConfig.colour_layout`` recolours)."""
    target_mean, target_cov = colour_statistics(target[0].flatten(1).T)
    return recolour_batch(image, target_mean, target_cov).float().clamp(0, 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model")
    parser.add_argument("--style", type=Path,
                        default=DEFAULT_STYLES / "starry-night.jpg")
    parser.add_argument("--photos", type=int, default=10)
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args(argv)
    torch.set_grad_enabled(False)
    loss = LossConfig()
    alpha, beta = loss.content_weights[0], loss.texture_weights[0]
    vgg = build_vgg((*TEXTURE_LAYERS, CONTENT_LAYER))
    art = to_tensor(load_image(args.style))
    art_small = resize_long_side(art, args.size)
    art_features = vgg(art_small)
    target_grams = [gram(art_features[layer]) for layer in TEXTURE_LAYERS]
    kinds = {"plain": gram, "centred": centred_gram}
    relative_targets = {kind: [f(art_features[layer]) for layer in TEXTURE_LAYERS]
                        for kind, f in kinds.items()}
    scales = {kind: [s / RELATIVE_TEXTURE_UNIT for s in relative_layer_scales(grams)]
              for kind, grams in relative_targets.items()}
    relative_rows: dict[str, list[dict[str, list[float]]]] = {"photo": [], "model": [],
                                                              "recoloured": []}
    model = load_model(args.model)
    rows = []
    for path in held_out_photos(DEFAULT_HELD_OUT, DEFAULT_PHOTOS,
                                       args.photos):
        image = load_image(path)
        photo = resize_long_side(to_tensor(image), args.size)
        output = resize_long_side(to_tensor(model.stylize(image, 4 * args.size)), args.size)
        photo_content = vgg(photo)[CONTENT_LAYER]
        row = {}
        recoloured = recolour(output, art)
        for name, y in (("photo", photo), ("model", output), ("recoloured", recoloured)):
            features = vgg(y)
            relative_rows[name].append({
                kind: [scale * float(torch.mean((f(features[layer]) - target) ** 2))
                       for layer, target, scale in zip(TEXTURE_LAYERS, relative_targets[kind],
                                                       scales[kind])]
                for kind, f in kinds.items()})
            if name == "photo":
                continue
            content = alpha * float(content_loss(features[CONTENT_LAYER], photo_content))
            texture = beta * float(texture_loss([gram(features[layer])
                                                 for layer in TEXTURE_LAYERS], target_grams))
            layer1 = float(torch.mean((gram(features["relu1_1"]) - target_grams[0]) ** 2))
            row[name] = (content, texture, layer1)
        rows.append(row)
        log(f"{path.name}: " + "; ".join(
            f"{n} content {c:.3g} texture {t:.3g} (relu1_1 {g:.3g})" for n, (c, t, g) in
            row.items()))
    print(f"{args.model}, painting {args.style.name}, {len(rows)} held-back photos at "
          f"{args.size} px, level-1 weights alpha {alpha}, beta {beta}; medians:")
    print("| output | content | texture | relu1_1 Gram | total |\n|---|---|---|---|---|")
    for name in ("model", "recoloured"):
        c, t, g = (statistics.median(r[name][i] for r in rows) for i in range(3))
        total = statistics.median(r[name][0] + r[name][1] for r in rows)
        print(f"| {name} | {c:.3g} | {t:.3g} | {g:.3g} | {total:.3g} |")
    better = sum(r["recoloured"][0] + r["recoloured"][1] < r["model"][0] + r["model"][1]
                 for r in rows)
    print(f"recoloured has the lower total loss on {better}/{len(rows)} photos")
    print("\nTexture error of each layer relative to the painting's Gram (medians):")
    print("| image | Gram | " + " | ".join(TEXTURE_LAYERS) + " |\n|---|---|"
          + "---|" * len(TEXTURE_LAYERS))
    for name, entries in relative_rows.items():
        for kind in kinds:
            values = [statistics.median(e[kind][i] for e in entries)
                      for i in range(len(TEXTURE_LAYERS))]
            print(f"| {name} | {kind} | " + " | ".join(f"{v:.3f}" for v in values) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
