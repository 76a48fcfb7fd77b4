"""The multi-scale style metric gives the known answers on constructed cases."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from brushwork.cli import main
from brushwork.evaluation import Evaluator
from brushwork.images import save_image, to_image
from tests.helpers import strokes


@pytest.fixture(scope="module")
def texture() -> torch.Tensor:
    return strokes(256)


@pytest.fixture(scope="module")
def evaluator(texture) -> Evaluator:
    return Evaluator(texture, scales=(64, 128, 256))


def test_an_image_scores_zero_against_itself(evaluator, texture):
    scores = evaluator.score(texture, texture)
    assert all(value == pytest.approx(0, abs=1e-6) for value in scores.style.values())
    assert scores.content == pytest.approx(0, abs=1e-6)


def test_a_texture_at_twice_its_scale_scores_worse_than_at_its_own(evaluator, texture):
    # The centre half of the texture blown up 2x: same content, strokes twice as large.
    doubled = F.interpolate(texture[..., 64:192, 64:192], scale_factor=2, mode="bilinear",
                            align_corners=False)
    matched = evaluator.score(strokes(256, seed=1))  # same kind of texture, same scale
    mismatched = evaluator.score(doubled)
    for scale in evaluator.scales:
        assert mismatched.style[scale] > 2 * matched.style[scale], scale


def test_a_photo_scores_worse_than_a_version_pushed_towards_the_style(evaluator, texture):
    g = torch.Generator().manual_seed(5)
    photo = F.interpolate(torch.rand(1, 3, 8, 8, generator=g), size=(128, 128), mode="bicubic",
                          align_corners=False).clamp(0, 1)
    painted = photo.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([painted], lr=0.05)
    for _ in range(15):
        optimizer.zero_grad()
        evaluator.style_distance_tensor(painted, 128).backward()
        optimizer.step()
    before = evaluator.score(photo).style[128]
    after = evaluator.score(painted.detach().clamp(0, 1)).style[128]
    assert after < 0.5 * before


def test_eval_command_prints_json_and_a_markdown_table(tmp_path, capsys, texture):
    style = tmp_path / "style.png"
    save_image(to_image(texture), style)
    out = tmp_path / "out.png"
    save_image(to_image(strokes(256, seed=3)), out)
    assert main(["eval", str(out), "--style", str(style), "--photo", str(style),
                 "--scales", "64", "128", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 2 and rows[0]["style"]["64"] == pytest.approx(0, abs=1e-6)
    assert main(["eval", str(out), "--style", str(style), "--scales", "64"]) == 0
    table = capsys.readouterr().out
    assert "| image | style @64 | content |" in table


@pytest.mark.parametrize("vertical", [True, False])
def test_orientation_energy_sees_straight_lines_along_their_axis_and_not_texture(vertical):
    from brushwork.evaluation import orientation_energy

    g = torch.Generator().manual_seed(0)
    noise = torch.rand(1, 3, 384, 512, generator=g)
    lines = torch.rand(1, 3, 1, 512, generator=g).expand(1, 3, 384, 512)
    if not vertical:
        lines = torch.rand(1, 3, 384, 1, generator=g).expand(1, 3, 384, 512)
    assert max(orientation_energy(noise)) < 0.1
    along, across = orientation_energy(0.8 * lines + 0.2 * noise)[:: 1 if vertical else -1]
    assert along > 0.8 and across < 0.1
