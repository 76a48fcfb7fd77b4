"""Gatys et al. optimisation: the result's style distance falls far below the photo's."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from brushwork.cli import main
from brushwork.errors import BrushworkError
from brushwork.evaluation import Evaluator
from brushwork.images import to_tensor
from brushwork.optimization import OptimizeConfig, optimize
from tests.helpers import make_photo, strokes


@pytest.fixture(scope="module")
def photo() -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    coarse = torch.rand(1, 3, 6, 9, generator=g)
    return torch.nn.functional.interpolate(coarse, size=(64, 96), mode="bicubic",
                                           align_corners=False).clamp(0, 1)


@pytest.mark.parametrize("method, multiscale", [("lbfgs", False), ("adam", True)])
def test_optimisation_moves_the_photo_towards_the_style(photo, method, multiscale):
    style = strokes(128)
    config = OptimizeConfig(size=96, steps=12, method=method, multiscale=multiscale,
                            learning_rate=0.05)
    steps = []
    result = optimize(photo, style, config, callback=steps.append)
    assert result.shape == (1, 3, 64, 96) and result.min() >= 0 and result.max() <= 1
    assert len(steps) == 12
    evaluator = Evaluator(style, scales=(96,))
    assert evaluator.style_distance(result, 96) < 0.3 * evaluator.style_distance(photo, 96)


def test_lbfgs_keeps_descending_at_photo_size():
    """A regression: L-BFGS stepped one iteration per ``step()`` call stalled on real photo
    sizes (the loss of a 256-px photo stayed at its first value), while the 96-px case above
    still passed. Coarse to fine, as ``--multiscale`` runs it, from a drawn 256-px photo."""
    photo = to_tensor(make_photo((256, 192)))
    style = strokes(256)
    losses = []
    optimize(photo, style, OptimizeConfig(size=256, steps=16, multiscale=True),
             callback=lambda step: losses.append(step.loss))
    full_size = losses[8:]  # the last stage: 256 px
    assert len(losses) == 16 and full_size[-1] < 0.7 * full_size[0]


def test_bad_settings_are_refused(photo):
    with pytest.raises(BrushworkError):
        optimize(photo, photo, OptimizeConfig(method="sgd"))


def test_optimize_command_writes_the_result(tmp_path, capsys):
    Image.new("RGB", (48, 32), "teal").save(tmp_path / "photo.png")
    Image.new("RGB", (40, 40), "orange").save(tmp_path / "art.png")
    out = tmp_path / "out.png"
    code = main(["optimize", str(tmp_path / "photo.png"), "--style", str(tmp_path / "art.png"),
                 "-o", str(out), "--size", "48", "--steps", "2", "--quiet"])
    assert code == 0 and Image.open(out).size == (48, 32)
    assert main(["optimize", str(tmp_path / "nope.png"), "--style", str(tmp_path / "art.png"),
                 "-o", str(tmp_path / "x.png")]) == 1
    assert not (tmp_path / "x.png").exists()
