"""The schedule beyond 1024 px and its ``coarse`` option (issue 4; docs/architecture.md)."""

from __future__ import annotations

import pytest

from brushwork.api import load_model
from brushwork.errors import BrushworkError
from brushwork.stylize import level_long_sides
from conftest import make_photo


def test_level_schedules():
    assert level_long_sides(4096) == [256, 512, 1024, 2048, 4096]  # recursive (default)
    assert level_long_sides(4096, coarse=1024) == [1024, 2048, 4096]  # naive: size/4
    assert level_long_sides(1024) == level_long_sides(1024, coarse=256) == [256, 512, 1024]


def test_stylizer_coarse_picks_the_schedule(tiny_model_file):
    model = load_model(tiny_model_file, device="cpu", precision="float32")
    photo = make_photo()  # 300x200
    # beyond 4 * coarse: the style subnet stays at coarse, refine once per doubling
    recursive = model.stylize_levels(photo, 128, coarse=16)
    assert [level.size for level in recursive] == [(16, 11), (32, 21), (64, 43), (128, 85)]
    # coarse = size / 4: three levels at size/4, size/2, size
    seen = []
    naive = model.stylize_levels(photo, 128, coarse=32, on_level=lambda k, n: seen.append(n))
    assert [level.size for level in naive] == [(32, 21), (64, 43), (128, 85)]
    assert seen and set(seen) == {3}
    final = model.stylize(photo, 128, coarse=32)
    assert final.tobytes() == naive[-1].tobytes()
    # the default anchor is 256: below 1024 both give the paper's three levels
    assert model.stylize(photo, 128).tobytes() == final.tobytes()


@pytest.mark.parametrize("coarse", [0, -4, 2.5, True])
def test_bad_coarse_is_an_error(tiny_model_file, coarse):
    model = load_model(tiny_model_file, device="cpu", precision="float32")
    with pytest.raises(BrushworkError, match="coarse"):
        model.stylize(make_photo(), 64, coarse=coarse)


def test_extra_refine_passes_keep_the_colour_and_the_trained_levels_are_untouched(tiny_network):
    """A refine subnet that lifts the colour (as the trained one does) lifts it once, at the
    trained third level; the passes beyond keep their input's mean colour, tiled or not."""
    import torch

    from brushwork import tiling
    from brushwork.stylize import stylize_tensor

    with torch.no_grad():
        tiny_network.refine.decoder[-1][1].bias.copy_(torch.tensor([0.2, 0.1, -0.1]))
    photo = torch.rand(1, 3, 60, 90, generator=torch.Generator().manual_seed(0))
    budget = int(0.5 * tiling.estimated_peak(tiny_network, torch.zeros(1, 3, 96, 128)))
    with torch.inference_mode():
        levels = stylize_tensor(tiny_network, photo, 128, coarse=16)  # 16, 32, 64, 128
        three = stylize_tensor(tiny_network, photo, 64, coarse=16)  # 16, 32, 64
        tiled = stylize_tensor(tiny_network, photo, 128, coarse=16, max_memory=budget)
    means = [level.float().mean(dim=(-2, -1)).flatten() for level in levels]
    # the trained levels are what they were: the third still lifts the second's colour
    assert torch.equal(levels[2], three[2])
    assert (means[2] - means[1])[0] > 0.05
    # the extra pass adds texture but keeps the third level's mean colour
    assert torch.allclose(means[3], means[2], atol=1e-4)
    assert not torch.allclose(levels[3], torch.nn.functional.interpolate(
        levels[2], size=levels[3].shape[-2:], mode="bilinear", align_corners=False), atol=1e-3)
    assert torch.allclose(tiled[3], levels[3], atol=1e-4)
