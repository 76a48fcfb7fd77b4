"""The image-only temporal term (``losses.temporal``) and distillation with it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from brushwork.distillation import distil, load_mtnet, moved_painting_loss
from brushwork.hyper_parameters import DistilConfig
from brushwork.images import to_tensor
from brushwork.losses.temporal import (
    add_noise,
    inside,
    move,
    random_motion,
    temporal_loss,
)
from brushwork.model_files import read_model_file
from brushwork.networks.multimodal import MTNet
from tests.helpers import make_photo
from tests.test_distillation import STUDENT, photos, small, teacher  # noqa: F401 (fixtures)


def still(shape=(1, 3, 24, 32)) -> torch.Tensor:
    torch.manual_seed(1)
    return torch.rand(shape)


def test_no_motion_is_the_identity_and_a_whole_pixel_shift_moves_exactly():
    image = still()
    identity = random_motion(1, 24, 32, shift=0, zoom=0, rotation=0, deform=0)
    assert torch.allclose(move(image, identity), image, atol=1e-5)
    shifted = identity.clone()
    shifted[..., 0] -= 2  # each pixel shows what was 2 px to its left: the picture moves right
    moved = move(image, shifted)
    assert torch.allclose(moved[..., 2:], image[..., :-2], atol=1e-5)
    mask = inside(shifted, 0)
    assert not mask[..., :2].any() and mask[..., 2:].all()
    assert not inside(identity, 3)[..., :3].any() and inside(identity, 3)[..., 3:-3, 3:-3].all()


def test_random_motions_stay_within_their_bounds():
    torch.manual_seed(0)
    base = random_motion(1, 40, 40, shift=0, zoom=0, rotation=0, deform=0)
    motion = random_motion(64, 40, 40, shift=3, zoom=0, rotation=0, deform=0)
    offsets = motion - base
    assert offsets.abs().max() <= 3 + 1e-5 and offsets.abs().max() > 2  # drawn up to the bound
    assert torch.allclose(offsets, offsets[:, :1, :1], atol=1e-4)  # a translation
    zoomed = random_motion(64, 40, 40, shift=0, zoom=0.01, rotation=0.5, deform=0) - base
    # the corner moves at most |c| (zoom + rotation): 27.6 px * (0.01 + 0.0087) / (1 - 0.01)
    assert zoomed.abs().max() < 0.55 and zoomed.abs().max() > 0.1
    deformed = random_motion(8, 40, 40, shift=0, zoom=0, rotation=0, deform=1) - base
    assert deformed.std() > 0.3 and (deformed.diff(dim=2).abs().max() < 1)  # smooth: never folds


def test_noise_is_bounded_and_off_at_zero():
    image = torch.full((4, 3, 16, 16), 0.5)
    assert add_noise(image, 0) is image
    torch.manual_seed(0)
    noisy = add_noise(image, 0.01)
    assert 0 < (noisy - image).std() < 0.01 and noisy.min() >= 0 and noisy.max() <= 1


def test_the_term_compares_only_inside_the_mask_and_counts_edges():
    a, b = still(), still()
    mask = torch.ones(1, 1, 24, 32, dtype=torch.bool)
    assert float(temporal_loss(a, b, mask, 1.0)) == 0
    b[..., :4] += 0.5
    assert float(temporal_loss(a, b, mask, 0.0)) == pytest.approx(0.5 * 4 / 32, rel=1e-4)
    mask[..., :5] = False  # the changed columns and the edge next to them left out
    assert float(temporal_loss(a, b, mask, 1.0)) == pytest.approx(0, abs=1e-6)
    striped = a.clone()
    striped[..., ::2] += 0.1  # the same mean change everywhere, but edges too
    flat = a + 0.05
    ones = torch.ones_like(mask)
    assert float(temporal_loss(striped, a, ones, 1.0)) > float(temporal_loss(flat, a, ones, 1.0))


def moved_difference(model: Path, teacher_file: Path, crops: torch.Tensor) -> float:
    """The term without noise, averaged over four motions: how far the network's painting of
    moved crops is from the teacher's painting of the crops, moved."""
    net, _ = load_mtnet(model)
    teacher_net, _ = load_mtnet(teacher_file)
    config = DistilConfig(temporal_noise=0.0, gradient_weight=0.0, temporal_shift=2.0,
                          temporal_margin=4.0)
    sizes = [(8, 8), (16, 16), (32, 32)]
    total = 0.0
    with torch.no_grad():
        painting = teacher_net(crops, sizes)[-1]
        for seed in range(4):
            torch.manual_seed(seed)
            total += float(moved_painting_loss(net, crops, painting, sizes, config))
    return total / 4


def test_distilling_with_the_term_paints_a_moved_photo_more_like_the_moved_painting(
        tmp_path, photos, teacher, tiny_config):  # noqa: F811 (fixtures)
    """The teacher taught to itself (a start that already paints it, as the steady video
    networks start from the style's slim network): with the term, its painting of moved crops
    comes closer to its painting moved; without, it has nothing to learn and stays."""
    logged: list[dict] = []
    moving = {"temporal_shift": 2.0, "temporal_margin": 4.0}
    plain = distil(teacher, photos, tmp_path / "a", tmp_path / "a.safetensors",
                   replace(small(40, **moving), learning_rate=3e-3), tiny_config,
                   init_from=teacher)
    steady = distil(teacher, photos, tmp_path / "b", tmp_path / "b.safetensors",
                    replace(small(40, temporal_weight=10.0, **moving), learning_rate=3e-3),
                    tiny_config, init_from=teacher, on_progress=logged.append)
    assert all(event["temporal"] is not None and event["temporal"] >= 0 for event in logged)
    assert read_model_file(steady)[1]["distilled"]["config"]["temporal_weight"] == 10.0
    photo = to_tensor(make_photo((48, 48)))
    crops = torch.cat([photo[..., y:y + 32, x:x + 32] for y, x in ((0, 0), (16, 16), (8, 0))])
    before = moved_difference(teacher, teacher, crops)
    assert moved_difference(plain, teacher, crops) == pytest.approx(before)  # nothing to learn
    steadied = moved_difference(steady, teacher, crops)
    assert steadied < 0.85 * before, (steadied, before)  # measured 0.77x


def test_a_start_of_other_widths_is_refused(tmp_path, photos, teacher):  # noqa: F811
    from brushwork.errors import BrushworkError
    from brushwork.model_files import save_model
    other = tmp_path / "other.safetensors"
    save_model(other, MTNet(), read_model_file(teacher)[1])
    with pytest.raises(BrushworkError, match="widths"):
        distil(teacher, photos, tmp_path / "c", tmp_path / "c.safetensors", small(2), STUDENT,
               init_from=other)
