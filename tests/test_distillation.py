"""Distillation of a trained MT-Net into a slimmer one, and choosing a style's network width."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from brushwork.api import load_model, resolve_model_path
from brushwork.distillation import distil, distillation_loss, inference_layout, load_mtnet
from brushwork.errors import BrushworkError
from brushwork.hyper_parameters import DistilConfig, NetworkConfig
from brushwork.model_files import read_model_file, save_model
from brushwork.networks import JohnsonNet
from brushwork.networks.multimodal import MTNet
from tests.helpers import make_photo

STUDENT = NetworkConfig(style_rgb=(2, 4, 4), style_l=(2, 2, 2), enhance_rgb=(2, 4, 4, 4),
                        enhance_l=(2, 2, 2, 2), refine=(2, 2, 2), residual_blocks=1)


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, size in enumerate([(120, 80), (90, 120), (100, 100)]):
        make_photo(size).save(folder / f"p{i}.jpg", quality=90)
    return folder


@pytest.fixture
def teacher(tmp_path: Path, painting_network: MTNet, tiny_metadata: dict) -> Path:
    path = tmp_path / "teacher.safetensors"
    metadata = {**tiny_metadata, "styles": [{"file": "art.jpg", "width": 60, "height": 40}]}
    save_model(path, painting_network, metadata)
    return path


def small(iterations: int, **changes) -> DistilConfig:
    return DistilConfig(iterations=iterations, batch_size=2, crop_size=32, photo_size=40,
                        learning_rate=1e-2, checkpoint_every=2, **changes)


def test_the_student_learns_the_teacher_and_carries_its_style(tmp_path, photos, teacher):
    losses: list[float] = []
    out = distil(teacher, photos, tmp_path / "run", tmp_path / "slim.safetensors",
                 small(30, gradient_weight=0.0), STUDENT,
                 on_progress=lambda event: losses.append(event["levels"][-1]))
    assert len(losses) == 30 and sum(losses[-5:]) < 0.9 * sum(losses[:5])
    _, metadata = read_model_file(out)
    assert NetworkConfig.from_dict(metadata["network"]) == STUDENT
    assert metadata["styles"] == [{"file": "art.jpg", "width": 60, "height": 40}]
    assert metadata["distilled"]["teacher"] == "teacher.safetensors"
    assert metadata["distilled"]["iterations"] == 30
    assert metadata["distilled"]["config"]["gradient_weight"] == 0.0
    assert load_model(out, device="cpu").stylize(make_photo(), 64).size == (64, 43)


def test_an_interrupted_run_resumes_to_the_same_student(tmp_path, photos, teacher):
    whole = distil(teacher, photos, tmp_path / "a", tmp_path / "a.safetensors", small(6),
                   STUDENT)

    def stop(event: dict) -> None:
        if event["iteration"] == 5:  # the last checkpoint was written after step 4
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        distil(teacher, photos, tmp_path / "b", tmp_path / "b.safetensors", small(6), STUDENT,
               on_progress=stop)
    assert not (tmp_path / "b.safetensors").exists()
    steps: list[int] = []
    resumed = distil(teacher, photos, tmp_path / "b", tmp_path / "b.safetensors", small(6),
                     STUDENT, on_progress=lambda event: steps.append(event["iteration"]))
    assert steps == [5, 6]
    for (name, a), b in zip(load_mtnet(whole)[0].state_dict().items(),
                            load_mtnet(resumed)[0].state_dict().values()):
        assert torch.equal(a, b), name


def test_the_loss_counts_every_level_and_the_edges():
    config = DistilConfig()
    teacher = [torch.zeros(1, 3, s, s) for s, _ in inference_layout(32)]
    flat = [t + 0.5 for t in teacher]
    total, levels = distillation_loss(flat, teacher, config)
    assert levels == pytest.approx([0.5, 0.5, 0.5])
    assert float(total) == pytest.approx(0.5 * sum(config.level_weights))  # flat: no edges
    striped = [t.clone() for t in teacher]
    striped[-1][..., ::2] = 1.0
    assert float(distillation_loss(striped, teacher, config)[0]) > 0.5 * config.level_weights[-1]


def test_the_slim_network_is_a_quarter_of_the_arithmetic():
    """Every width halved: ~1/4 of the multiply-adds and parameters."""
    full, slim = MTNet(), MTNet(NetworkConfig.slim())
    ratio = sum(p.numel() for p in slim.parameters()) / sum(p.numel() for p in full.parameters())
    assert 0.2 < ratio < 0.3


def test_a_style_paints_slim_by_default_and_full_on_request(builtin_styles, tiny_model_file,
                                                             painting_model_file):
    (builtin_styles / "full").mkdir()
    shutil.copy(painting_model_file, builtin_styles / "full" / "tiny-style.safetensors")
    assert resolve_model_path("tiny-style") == builtin_styles / "tiny-style.safetensors"
    assert resolve_model_path("tiny-style", "full") == (
        builtin_styles / "full" / "tiny-style.safetensors")
    assert load_model("tiny-style", device="cpu", width="full").name == "tiny-style"
    with pytest.raises(BrushworkError, match="unknown width"):
        resolve_model_path("tiny-style", "huge")


def test_a_style_without_a_full_network_paints_with_its_one_network(builtin_styles):
    assert resolve_model_path("tiny-style", "full") == builtin_styles / "tiny-style.safetensors"


def test_the_distil_command_writes_a_slim_model_and_refuses_other_networks(tmp_path, photos,
                                                                         teacher, capsys):
    from brushwork.cli import main

    out = tmp_path / "slim.safetensors"
    assert main(["distil", str(teacher), "--data", str(photos), "-o", str(out),
                 "--run-dir", str(tmp_path / "run"), "--iterations", "2", "--quiet"]) == 0
    assert NetworkConfig.from_dict(read_model_file(out)[1]["network"]) == NetworkConfig.slim()
    assert "slim model written to" in capsys.readouterr().out
    johnson = tmp_path / "johnson.safetensors"
    save_model(johnson, JohnsonNet(), {"architecture": "johnson"})
    assert main(["distil", str(johnson), "--data", str(photos), "-o",
                 str(tmp_path / "j.safetensors"), "--run-dir", str(tmp_path / "run2"),
                 "--iterations", "1", "--quiet"]) == 1
    assert "only MT-Net is distilled" in capsys.readouterr().err
