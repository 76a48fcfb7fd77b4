"""The price of the compact built-in models: int8 vs float32 at 1024 px.

    python -m experiments.compact_models [NAME ...]

Each shipped style (int8 convolutions, ``model_files.write_compact``) and the float16 file it
was made from (``runs/zoo/NAME.fp16.safetensors``, kept by ``zoo.py package``; loaded in
float32) paint the first held-back photos at 1024 px in float32; prints the PSNR of the compact
output against the full one per photo and the minimum. The bar: >= 40 dB. Also prints both
files' sizes.
"""

from __future__ import annotations

import argparse

import torch

from brushwork.api import available_styles, load_model, resolve_model_path
from brushwork.evaluation import psnr
from brushwork.images import load_image, to_tensor
from experiments.lib.arguments import DEFAULT_HELD_OUT, DEFAULT_PHOTOS, REPO, held_out_photos

SIZE = 1024
BAR_DB = 40.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help="built-in styles (default: all)")
    parser.add_argument("--photos", type=int, default=3, help="held-back photos per style")
    args = parser.parse_args(argv)
    torch.set_grad_enabled(False)
    photos = held_out_photos(DEFAULT_HELD_OUT, DEFAULT_PHOTOS, args.photos)
    worst = float("inf")
    print(f"| style | compact MB | float16 MB | PSNR at {SIZE} px, min (per photo) |")
    print("|---|---|---|---|")
    for name in args.names or available_styles():
        full_path = REPO / "runs" / "zoo" / f"{name}.fp16.safetensors"
        if not full_path.is_file():
            print(f"| {name} | - | - | no {full_path.relative_to(REPO)} to compare |")
            continue
        compact = load_model(name, device="cpu", precision="float32")
        full = load_model(full_path, device="cpu", precision="float32")
        values = []
        for path in photos:
            photo = load_image(path)
            values.append(psnr(to_tensor(compact.stylize(photo, SIZE)),
                               to_tensor(full.stylize(photo, SIZE))))
        worst = min(worst, *values)
        print(f"| {name} | {resolve_model_path(name).stat().st_size / 1e6:.1f} | "
              f"{full_path.stat().st_size / 1e6:.1f} | {min(values):.1f} "
              f"({', '.join(f'{v:.1f}' for v in values)}) |", flush=True)
    print(f"worst {worst:.1f} dB; bar {BAR_DB:.0f} dB: {'met' if worst >= BAR_DB else 'MISSED'}")
    return 0 if worst >= BAR_DB else 1


if __name__ == "__main__":
    raise SystemExit(main())
