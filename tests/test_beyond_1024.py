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
