"""Figures: labelled grids of artworks, photos and outputs, with a detail crop of each."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from brushwork.images import load_image, save_image


def font(size: int = 15) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Pillow's bundled font (no system fonts needed)."""
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow built without FreeType
        return ImageFont.load_default()


def fit(image: Image.Image, box: int) -> Image.Image:
    """``image`` scaled so its long side is ``box`` (for overviews; crops are never scaled)."""
    scale = box / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS if scale < 1 else
                        Image.Resampling.BICUBIC)


@dataclass
class Tile:
    """One picture in a figure, with its caption."""

    image: Image.Image
    caption: str = ""


@dataclass
class Row:
    """A row of tiles, with a title printed at its left."""

    tiles: list[Tile]
    title: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def grid(rows: Sequence[Row], heading: str = "", gap: int = 8) -> Image.Image:
    """Rows of captioned tiles on white, in columns as wide as their widest tile or caption
    (so a method's overview and its 1:1 crop line up); each row as high as its highest tile."""
    caption_font, title_font = font(14), font(16)
    caption_h, title_w = 20, max([0] + [int(title_font.getlength(r.title)) + 12 for r in rows])
    heading_h = 28 if heading else 0
    columns: list[int] = []
    for row in rows:
        for i, tile in enumerate(row.tiles):
            need = max(tile.image.width, int(caption_font.getlength(tile.caption)) + 4)
            if i == len(columns):
                columns.append(need)
            columns[i] = max(columns[i], need)
    heights = [caption_h + max(t.image.height for t in r.tiles) + gap for r in rows]
    width = max(title_w + sum(c + gap for c in columns) + gap,
                int(title_font.getlength(heading)) + 2 * gap)
    sheet = Image.new("RGB", (width, heading_h + sum(heights) + gap), "white")
    draw = ImageDraw.Draw(sheet)
    if heading:
        draw.text((gap, 6), heading, fill="black", font=title_font)
    y = heading_h + gap
    for row, height in zip(rows, heights):
        draw.text((gap, y + caption_h + 4), row.title, fill="black", font=title_font)
        x = title_w + gap
        for tile, column in zip(row.tiles, columns):
            draw.text((x, y + 2), tile.caption, fill="black", font=caption_font)
            sheet.paste(tile.image, (x, y + caption_h))
            x += column + gap
        y += height
    return sheet


def detail_box(photo: Image.Image, size: tuple[int, int], crop: int) -> tuple[int, int, int, int]:
    """The ``crop`` x ``crop`` window (in an output of ``size`` = (w, h)) where the photo has
    the most edges: chosen from the photo alone, before any method's output is looked at."""
    width, height = size
    crop = min(crop, width, height)
    gray = np.asarray(photo.convert("L").resize(size, Image.Resampling.BILINEAR), dtype=np.float64)
    edges = np.zeros_like(gray)
    edges[:, 1:] += np.abs(np.diff(gray, axis=1))
    edges[1:, :] += np.abs(np.diff(gray, axis=0))
    total = np.pad(edges.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    step = max(1, crop // 8)
    best, box = -1.0, (0, 0, crop, crop)
    for top in range(0, height - crop + 1, step):
        for left in range(0, width - crop + 1, step):
            value = (total[top + crop, left + crop] - total[top, left + crop]
                     - total[top + crop, left] + total[top, left])
            if value > best:
                best, box = value, (left, top, left + crop, top + crop)
    return box


def outline(tile: Image.Image, box: tuple[int, int, int, int],
            size: tuple[int, int]) -> Image.Image:
    """``tile`` (an overview of an output of ``size``) with ``box`` drawn on it in red."""
    tile = tile.copy()
    sx, sy = tile.width / size[0], tile.height / size[1]
    left, top, right, bottom = box
    ImageDraw.Draw(tile).rectangle(
        (round(left * sx), round(top * sy), round(right * sx) - 1, round(bottom * sy) - 1),
        outline=(230, 20, 20), width=2)
    return tile


def crop_side(size: int) -> int:
    """Side of the 1:1 crops for outputs of long side ``size`` (256 at 1024)."""
    return min(256, max(16, size // 4))


def save_figure(image: Image.Image, path: Path) -> Path:
    """PNG (lossless, so 1:1 crops show exactly the network's pixels)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(image, path)
    return path


def comparison_figure(art: Path, photos: Sequence[Path], outputs: dict[str, list[Path]],
                      labels: dict[str, str], size: int, heading: str) -> Image.Image:
    """The artwork (whole, and 1:1 at the output scale), then per photo a row of overviews
    (the crop region outlined in red) and a row of 1:1 crops of that region, one per method."""
    overview, crop = min(320, size), crop_side(size)
    artwork = load_image(art)
    scale = size / max(artwork.size)
    at_size = artwork.resize((round(artwork.width * scale), round(artwork.height * scale)),
                             Image.Resampling.LANCZOS if scale < 1 else Image.Resampling.BICUBIC)
    left, top = (at_size.width - crop) // 2, (at_size.height - crop) // 2
    rows = [Row([Tile(fit(artwork, overview), f"{art.name} ({artwork.width}x{artwork.height})"),
                 Tile(at_size.crop((left, top, left + crop, top + crop)),
                      f"artwork at {size} px, centre 1:1")], "artwork")]
    for index, photo in enumerate(photos):
        images = {m: load_image(files[index]) for m, files in outputs.items()}
        out_size = next(iter(images.values())).size
        original = load_image(photo).resize(out_size, Image.Resampling.LANCZOS)
        box = detail_box(original, out_size, crop)
        name = photo.stem if len(photo.stem) <= 30 else photo.stem[:27] + "..."
        rows.append(Row([Tile(outline(fit(original, overview), box, out_size), name)] + [
            Tile(outline(fit(image, overview), box, out_size), labels[m])
            for m, image in images.items()], f"photo {index + 1}"))
        rows.append(Row([Tile(original.crop(box), "photo, 1:1")] + [
            Tile(image.crop(box), f"{labels[m]}, 1:1") for m, image in images.items()],
            "1:1 crops"))
    return grid(rows, heading)
