"""The schedule beyond 1024 px and its ``coarse`` option (docs/architecture.md)."""

from __future__ import annotations

import pytest

from brushwork.api import load_model
from brushwork.errors import BrushworkError
from brushwork.levels import level_long_sides
from tests.helpers import make_photo


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


def test_coarse_levels_match_the_hierarchy_written_out(painting_model_file):
    """The schedules against an independent reference (``levels_by_hand``: the subnets run
    by hand at the sizes the docstring of ``level_long_sides`` gives), with a network that
    paints, so the pictures, not only their sizes, must be right: coarse=16 at 128 is style
    at 16, enhance at 32, refine at 64 and again at 128; coarse=32 is the paper's 32, 64, 128.
    The test above compares the API with itself, which a flat grey network passes whatever
    the schedule."""
    import numpy as np

    from brushwork.images import to_tensor
    from tests.helpers import as_pixels, levels_by_hand

    model = load_model(painting_model_file, device="cpu", precision="float32")
    photo = make_photo((320, 240))  # 4:3: every level a multiple of 8 px, no padding
    cases = {16: [(12, 16), (24, 32), (48, 64), (96, 128)], 32: [(24, 32), (48, 64), (96, 128)]}
    finals = {}
    for coarse, sides in cases.items():
        expected = [as_pixels(y) for y in levels_by_hand(model.network, to_tensor(photo),
                                                         sides)]
        levels = [np.asarray(level) for level in model.stylize_levels(photo, 128,
                                                                      coarse=coarse)]
        assert [level.shape for level in levels] == [e.shape for e in expected]
        for k, (level, reference) in enumerate(zip(levels, expected)):
            assert reference.std() > 10, (coarse, k)  # a picture, not a flat grey
            assert np.abs(level.astype(int) - reference.astype(int)).max() <= 1, (coarse, k)
        finals[coarse] = np.asarray(model.stylize(photo, 128, coarse=coarse))
        assert np.abs(finals[coarse].astype(int) - expected[-1].astype(int)).max() <= 1
    assert np.abs(finals[16].astype(int) - finals[32].astype(int)).mean() > 5


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
    from brushwork.hierarchy import stylize_tensor

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
