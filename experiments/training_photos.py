"""Build the training photos that ship with the package (``brushwork train`` without ``--data``).

    python -m experiments.training_photos [--short-side 512] [--quality 88]

Every photo of ``../shared/data/photos`` that is in the public domain or CC0 (no attribution or
share-alike terms travel with it), minus the held-back evaluation photos
(``docs/held-out-photos.txt``), scaled so its short side is ``--short-side`` (the training
photo size, ``TrainConfig.photo_size``: nothing finer is ever read) and written as JPEG to
``src/brushwork/training_photos/``, with SOURCES.tsv (original file, licence, source).
"""

from __future__ import annotations

import argparse
import csv
import shutil
import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "photos"
HELD_OUT = ROOT / "docs" / "held-out-photos.txt"
OUT = ROOT / "src" / "brushwork" / "training_photos"
#: Licences whose photos may ship with no terms attached (ours: the package is MIT).
FREE = ("cc0-1.0", "public domain")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--short-side", type=int, default=512)
    parser.add_argument("--quality", type=int, default=88)
    args = parser.parse_args(argv)
    held = set(HELD_OUT.read_text().split())
    with (SHARED / "SOURCES.tsv").open(newline="") as table:
        rows = [r for r in csv.DictReader(table, delimiter="\t")
                if r["license"].strip().lower() in FREE and r["file"] not in held]
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    for row in rows:
        with Image.open(SHARED / row["file"]) as image:
            image = image.convert("RGB")
            scale = args.short_side / min(image.size)
            if scale < 1:
                size = (round(image.width * scale), round(image.height * scale))
                image = image.resize(size, Image.Resampling.LANCZOS)
            image.save(OUT / row["file"], quality=args.quality, optimize=True)
    with (OUT / "SOURCES.tsv").open("w", newline="") as table:
        writer = csv.writer(table, delimiter="\t", lineterminator="\n")
        writer.writerow(["file", "license", "source", "original"])
        for row in rows:
            writer.writerow([row["file"], row["license"], row["source"], row["original"]])
    total = sum(p.stat().st_size for p in OUT.iterdir())
    print(f"{len(rows)} photos, {total / 2**20:.1f} MiB in {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
