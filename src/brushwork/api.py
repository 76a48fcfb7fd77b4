"""The Python API: load a model by built-in name or by path, stylise PIL images.

    model = brushwork.load_model("starry-night")        # or a path to a .safetensors file
    painting = model.stylize(photo, size=1024)           # PIL in, PIL out
    y1, y2, y3 = model.stylize_levels(photo, size=1024)  # every level (paper Fig. 4)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import nn

from .devices import mixed_precision_supported, resolve_device
from .errors import BrushworkError
from .images import to_image, to_tensor
from .model_files import load_state_into, read_model_file
from .networks import build_network
from .stylize import stylize_tensor
from .tiling import memory_budget

STYLES_DIR = Path(__file__).parent / "styles"


def available_styles() -> list[str]:
    """Names of the built-in styles shipped with the package."""
    return sorted(p.stem for p in STYLES_DIR.glob("*.safetensors"))


def style_card(name: str) -> dict[str, Any]:
    """The model card of a built-in style: artwork, artist, year, licence, source."""
    cards = json.loads((STYLES_DIR / "cards.json").read_text())
    return cards.get(name, {})


def resolve_model_path(name_or_path: str | Path) -> Path:
    """A built-in style name or a model file path -> the model file's path."""
    text = str(name_or_path)
    if text in available_styles():
        return STYLES_DIR / f"{text}.safetensors"
    path = Path(text)
    if path.suffix or path.exists() or "/" in text:
        return path
    known = ", ".join(available_styles()) or "none installed"
    raise BrushworkError(
        f"{text!r} is neither a built-in style ({known}) nor a model file"
    )


@dataclass
class Stylizer:
    """A loaded model ready to paint photos."""

    network: nn.Module
    metadata: dict[str, Any]
    name: str
    device: torch.device
    dtype: torch.dtype = torch.float32

    @property
    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.network.parameters())

    def stylize_levels(
        self, image: Image.Image, size: int = 1024, max_memory: int | str | None = None
    ) -> list[Image.Image]:
        """Every level's output, coarse to fine: size/4, size/2, size on the long side.

        ``max_memory`` bounds the tensors alive at once: bytes, a text like '1.5GB', or None
        for half the free memory, at most 2 GiB. What does not fit is computed in tiles, with
        the same result (``brushwork.tiling``).
        """
        budget = memory_budget(max_memory, self.device)
        photo = to_tensor(image).to(self.device, self.dtype)
        if self.dtype != torch.float32:
            photo = photo.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            levels = stylize_tensor(self.network, photo, size, budget)
        return [to_image(level) for level in levels]

    def stylize(
        self, image: Image.Image, size: int = 1024, max_memory: int | str | None = None
    ) -> Image.Image:
        """The final, full-size painting of ``image`` with long side ``size``."""
        return self.stylize_levels(image, size, max_memory)[-1]


PRECISIONS = ("auto", "float32", "bfloat16")


def load_model(
    name_or_path: str | Path, device: str = "auto", precision: str = "auto"
) -> Stylizer:
    """Load a built-in style by name or a model file by path; never unpickles anything.

    ``precision="auto"`` runs in bfloat16 (weights and activations, channels-last layout) where
    the device computes it natively (AVX-512 BF16 / AMX CPUs, recent GPUs): on a 2-core CPU
    that is about 2x faster than float32, within the quality guard of issue 4 (PSNR >= 35 dB
    against float32; see docs/performance.md). Elsewhere, and with "float32", it runs in float32.
    """
    if precision not in PRECISIONS:
        raise BrushworkError(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}")
    path = resolve_model_path(name_or_path)
    tensors, metadata = read_model_file(path)
    architecture = metadata.get("architecture")
    if not isinstance(architecture, str):
        raise BrushworkError(f"{path}: the metadata names no architecture")
    network = build_network(architecture, metadata.get("network"), source=str(path))
    load_state_into(network, tensors, str(path))
    dev = resolve_device(device)
    low = precision == "bfloat16" or (precision == "auto" and mixed_precision_supported(dev))
    dtype = torch.bfloat16 if low else torch.float32
    network.to(dev, dtype).eval()
    if low:
        network.to(memory_format=torch.channels_last)
    name = path.stem if path.parent == STYLES_DIR else str(path)
    return Stylizer(network, metadata, name, dev, dtype)


def stylize(image: Image.Image, style: str | Path, size: int = 1024) -> Image.Image:
    """One-shot convenience: load ``style`` and paint ``image``."""
    return load_model(style).stylize(image, size)
