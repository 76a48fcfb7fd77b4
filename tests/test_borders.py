"""A painting's scan border (brushwork.borders): found, trimmed, and kept out of training and
the quality report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from brushwork import recipe
from brushwork.borders import MAX_TRIM, border_margins, trim_border
from brushwork.hyper_parameters import LossConfig
from brushwork.images import to_image
from brushwork.quality_report import quality_report
from brushwork.training import style_images

HELD_OUT = Path(__file__).resolve().parents[1] / "docs" / "held-out-paintings"


def brushy(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A painting-like texture: smooth colour blobs with strokes at every angle."""
    rng = np.random.default_rng(seed)
    small = rng.uniform(40, 215, (height // 8 + 1, width // 8 + 1, 3)).astype(np.uint8)
    base = np.asarray(Image.fromarray(small).resize((width, height), Image.BICUBIC), np.float32)
    return np.clip(base + rng.normal(0, 18, base.shape), 0, 255).astype(np.uint8)


def framed(margin: int = 6, gilt: int = 3, width: int = 240, height: int = 180) -> Image.Image:
    """``brushy`` inside a black margin and a bright gilt line, as a museum scan has them."""
    inner = brushy(width - 2 * (margin + gilt), height - 2 * (margin + gilt))
    picture = np.zeros((height, width, 3), np.uint8)
    picture[margin:height - margin, margin:width - margin] = (200, 170, 90)
    picture[margin + gilt:height - margin - gilt, margin + gilt:width - margin - gilt] = inner
    return Image.fromarray(picture)


def test_a_black_margin_and_a_gilt_line_are_trimmed_on_every_side():
    margins = border_margins(framed(margin=6, gilt=3))
    # The cut is one line past the last straight edge: the margin and the gilt, no more than
    # a few lines of the painting.
    assert all(9 <= m <= 12 for m in margins), margins


def test_a_painting_without_a_border_keeps_every_pixel():
    painting = Image.fromarray(brushy(240, 180, seed=3))
    assert border_margins(painting) == (0, 0, 0, 0)
    assert trim_border(painting) is painting


def test_a_flat_picture_keeps_its_middle():
    flat = Image.new("RGB", (100, 80), (30, 60, 90))
    left, top, right, bottom = border_margins(flat)
    assert max(left, right) <= 100 * MAX_TRIM and max(top, bottom) <= 80 * MAX_TRIM
    assert trim_border(flat).size[0] >= 50


def test_a_met_scan_loses_its_frame_and_nothing_of_the_painting():
    """Delacroix's Abduction of Rebecca (docs/held-out-paintings): 5 px of black and 4 px of
    gilt on each side of a 509x624 scan; the recipe painted the gilt as vertical bars."""
    with Image.open(HELD_OUT / "abduction-of-rebecca.jpg") as scan:
        margins = border_margins(scan)
        trimmed = np.asarray(trim_border(scan).convert("L"), np.float32)
    assert all(9 <= m <= 16 for m in margins), margins
    # What is left has no full-length straight edge at its sides: its outermost columns and
    # rows look like the painting's inside (dark, no bright gilt line).
    inside = trimmed[20:-20, 20:-20].mean()
    for edge in (trimmed[:, 0], trimmed[:, -1], trimmed[0], trimmed[-1]):
        assert abs(edge.mean() - inside) < 40


def test_the_style_target_is_the_painting_without_its_border(tmp_path):
    path = tmp_path / "scan.png"
    framed().save(path)
    trimmed = style_images([path], 3)[0]
    kept = style_images([path], 3, trim=False)[0]
    assert kept.shape[-2:] == (180, 240)
    left, top, right, bottom = border_margins(framed())
    assert trimmed.shape[-2:] == (180 - top - bottom, 240 - left - right)


def test_files_written_before_the_border_trim_keep_their_border():
    """A resumed old run goes on as it began (``_Config.LEGACY``)."""
    assert LossConfig().trim_border is True
    assert LossConfig.from_dict({}).trim_border is False


def test_the_recipe_measures_the_painting_without_its_border_and_says_so(tmp_path):
    path = tmp_path / "scan.png"
    framed(margin=8, gilt=4).save(path)
    chosen = recipe.auto_recipe(path)
    assert all(m >= 12 for m in chosen.border)
    assert "scan border trimmed" in chosen.describe()


@pytest.mark.parametrize("painting", ["abduction-of-rebecca.jpg"])
def test_a_barcode_is_flagged_where_the_painting_has_a_full_height_frame_line(
        tmp_path, sample_photo, painting):
    """With its frame, the Delacroix scan scores 0.97 on vertical lines (its gilt edges fill
    the 90th percentile of tiles), so the streak check's baseline let anything pass; without
    it, 0.29, and vertical barcode streaks are flagged."""
    def streaked(photo, size):
        columns = torch.rand(1, 3, 1, photo.width, generator=torch.Generator().manual_seed(0))
        return to_image(columns.expand(1, 3, photo.height, photo.width))

    report = quality_report(streaked, HELD_OUT / painting, tmp_path / "sheet.jpg", size=128,
                            photos=[sample_photo])
    assert report["streak_baseline"]["vertical lines"] < 0.6
    assert report["streaks"] is True and report["streak_axis"] == "vertical lines"
