"""``brushwork optimize``: Gatys et al.'s optimisation of one photo (slow baseline)."""

from __future__ import annotations

import argparse
import time
from typing import Any

from ..optimization import METHODS, OptimizeConfig
from .arguments import positive_int, weight


def _optimize(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..images import load_image, output_format, save_image, to_image, to_tensor
    from ..optimization import OptimizeStep, optimize

    output_format(args.output)
    photo, style = to_tensor(load_image(args.photo)), to_tensor(load_image(args.style))
    config = OptimizeConfig(size=args.size, steps=args.steps, method=args.method,
                            texture_weight=args.texture_weight, multiscale=args.multiscale)
    with tqdm(total=config.steps, unit="step", disable=args.quiet) as bar:
        def report(step: OptimizeStep) -> None:
            bar.set_postfix_str(f"{step.size[1]}x{step.size[0]} loss={step.loss:.4g}",
                                refresh=False)
            bar.update(1)

        began = time.perf_counter()
        image = optimize(photo, style, config, callback=report)
    save_image(to_image(image), args.output)
    print(f"{args.photo} -> {args.output} ({image.shape[-1]}x{image.shape[-2]}, "
          f"{time.perf_counter() - began:.1f} s)")
    return 0


def add_parser(commands: Any) -> None:
    o = commands.add_parser(
        "optimize", help="Gatys et al. optimisation of one photo (slow baseline)"
    )
    o.add_argument("photo", metavar="PHOTO")
    o.add_argument("--style", required=True, help="the artwork")
    o.add_argument("-o", "--output", required=True)
    gatys = OptimizeConfig()
    o.add_argument("--size", type=positive_int, default=gatys.size,
                   help=f"long side of the result (default {gatys.size})")
    o.add_argument("--steps", type=positive_int, default=gatys.steps,
                   help=f"optimiser steps (default {gatys.steps})")
    o.add_argument("--method", choices=METHODS, default=gatys.method)
    o.add_argument("--texture-weight", type=weight, default=gatys.texture_weight,
                   help=f"default {gatys.texture_weight:g}")
    o.add_argument("--multiscale", action="store_true",
                   help="coarse-to-fine: optimise at 1/4, 1/2, then full size")
    o.add_argument("--quiet", action="store_true", help="no progress bar")
    o.set_defaults(run=_optimize)
