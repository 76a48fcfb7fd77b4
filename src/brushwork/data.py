"""Training photos: a folder of images, visited in a seeded order, random crops and flips.

The order and the augmentation come from ``torch.Generator`` objects whose state goes into
every checkpoint, so a resumed run sees exactly the photos and crops the uninterrupted run
would have seen. Unreadable files are skipped with a warning (through the ``on_warning``
callback) and never stop a run.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from .errors import BrushworkError
from .images import IMAGE_SUFFIXES, load_image, to_tensor

#: Training photos that ship with the package: the default of ``brushwork train --data``, so
#: a user with one painting needs nothing else. Public-domain and CC0 photos (SOURCES.tsv
#: there), none of the held-back evaluation photos, short side 512 px, the training photo
#: size (``experiments/training_photos.py`` builds the folder).
BUNDLED_PHOTOS = Path(__file__).parent / "training_photos"


def list_images(folder: str | Path) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise BrushworkError(f"photo folder not found: {folder}")
    files = sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )
    if not files:
        raise BrushworkError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    return files


class PhotoStream:
    """An endless, resumable stream of (1, 3, crop, crop) training crops in [0, 1].

    Each epoch visits every photo once in a fresh seeded permutation. A photo is scaled so its
    short side equals ``photo_size`` (no photo is squashed), then a random ``crop_size``
    square is cut out and flipped left-right with probability 1/2 (ours: the paper only says
    "cropped ... and resized to 512x512").

    ``photo_size`` fixes the pixel scale the network learns its texture at, ``crop_size``
    only how much of the photo one iteration sees: a 256 px crop of a photo scaled to 512
    trains the texture scale of the paper's 512 px crops at a quarter of the cost. 0 (or
    anything below the crop size) means the crop size, as runs made before ``photo_size``
    existed did (``TrainConfig.LEGACY``).
    """

    def __init__(
        self, files: list[Path], crop_size: int, seed: int,
        on_warning: Callable[[str], None] | None = None, photo_size: int = 0,
    ) -> None:
        self.files = list(files)
        self.crop_size = crop_size
        self.photo_size = max(photo_size, crop_size)
        self.on_warning = on_warning or (lambda message: None)
        self.order_rng = torch.Generator().manual_seed(seed)
        self.augment_rng = torch.Generator().manual_seed(seed + 1)
        self.bad: set[int] = set()
        self.epoch = 0
        self.position = 0
        self.permutation = self._new_permutation()

    def _new_permutation(self) -> list[int]:
        return torch.randperm(len(self.files), generator=self.order_rng).tolist()

    def next_index(self) -> int:
        if self.position >= len(self.permutation):
            self.epoch += 1
            self.position = 0
            self.permutation = self._new_permutation()
        index = self.permutation[self.position]
        self.position += 1
        return index

    def __next__(self) -> torch.Tensor:
        for _ in range(len(self.files) + 1):
            index = self.next_index()
            if index in self.bad:
                continue
            try:
                photo = to_tensor(load_image(self.files[index]))
            except BrushworkError as error:
                self.bad.add(index)
                self.on_warning(f"skipping unreadable photo: {error}")
                if len(self.bad) == len(self.files):
                    break
                continue
            return self._crop(photo)
        raise BrushworkError("none of the training photos could be read")

    def _crop(self, photo: torch.Tensor) -> torch.Tensor:
        size = self.crop_size
        photo = scaled_to(photo, self.photo_size, size)
        new = photo.shape[-2:]
        top = int(torch.randint(0, new[0] - size + 1, (1,), generator=self.augment_rng))
        left = int(torch.randint(0, new[1] - size + 1, (1,), generator=self.augment_rng))
        crop = photo[..., top : top + size, left : left + size]
        if bool(torch.rand((), generator=self.augment_rng) < 0.5):
            crop = crop.flip(-1)
        return crop.contiguous().clamp(0, 1)

    def __iter__(self) -> PhotoStream:
        return self

    def state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        """(JSON-able state, tensor state) for a checkpoint."""
        return (
            {"epoch": self.epoch, "position": self.position, "permutation": self.permutation,
             "bad": sorted(self.bad), "files": len(self.files)},
            {"order_rng": self.order_rng.get_state(), "augment_rng": self.augment_rng.get_state()},
        )

    def restore(self, state: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
        if state.get("files") != len(self.files):
            self.on_warning(
                f"the photo folder now has {len(self.files)} images, the checkpoint saw "
                f"{state.get('files')}: the data order will differ from an uninterrupted run"
            )
        self.epoch = int(state["epoch"])
        self.position = int(state["position"])
        self.permutation = [i for i in state["permutation"] if i < len(self.files)]
        self.bad = {i for i in state["bad"] if i < len(self.files)}
        self.order_rng.set_state(tensors["order_rng"])
        self.augment_rng.set_state(tensors["augment_rng"])


def scaled_to(photo: torch.Tensor, photo_size: int, crop_size: int) -> torch.Tensor:
    """``photo`` with its short side at ``photo_size`` (neither side below ``crop_size``)."""
    h, w = photo.shape[-2:]
    scale = photo_size / min(h, w)
    new = (max(crop_size, round(h * scale)), max(crop_size, round(w * scale)))
    return F.interpolate(photo, size=new, mode="bilinear", align_corners=False,
                         antialias=scale < 1)


def centre_crops(files: list[Path], crop_size: int, photo_size: int, count: int
                 ) -> list[torch.Tensor]:
    """Fixed crops for measuring a run's progress: the centre ``crop_size`` square of each of
    the first ``count`` readable photos, scaled as training scales them (``PhotoStream``)."""
    crops: list[torch.Tensor] = []
    for path in files:
        if len(crops) == count:
            break
        try:
            photo = scaled_to(to_tensor(load_image(path)), max(photo_size, crop_size), crop_size)
        except BrushworkError:
            continue
        h, w = photo.shape[-2:]
        top, left = (h - crop_size) // 2, (w - crop_size) // 2
        crops.append(photo[..., top:top + crop_size, left:left + crop_size]
                     .contiguous().clamp(0, 1))
    return crops
