"""Training starts without the optimiser stall, at the right pixel scale, with float32 losses
(docs/training-stall.md)."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from brushwork.data import PhotoStream
from brushwork.hyper_parameters import (
    CONTENT_LAYER,
    TEXTURE_LAYERS,
    LossConfig,
    NetworkConfig,
    TrainConfig,
)
from brushwork.losses.perceptual import HierarchicalLoss, content_loss, gram, texture_loss
from brushwork.losses.vgg import build_vgg
from brushwork.model_files import read_model_file
from brushwork.networks import ARCHITECTURES
from brushwork.networks.multimodal import MTNet, resize
from brushwork.training import adam_memory_ratio, train, training_step

TINY = NetworkConfig.tiny()


@pytest.fixture(scope="module")
def vgg():
    return build_vgg((*TEXTURE_LAYERS, CONTENT_LAYER))


def test_a_new_mtnet_paints_flat_grey_and_refine_starts_as_the_identity():
    torch.manual_seed(0)
    net = MTNet(TINY).eval()
    x = torch.rand(1, 3, 128, 96)
    with torch.no_grad():
        y1, y2, y3 = net(x)
    # PyTorch's default output layer painted high-contrast noise (std ~0.4 at full width);
    # the start-up paints mid-grey with a faint trace of the input.
    for y in (y1, y2):
        assert abs(float(y.mean()) - 0.5) < 0.02 and float(y.std()) < 0.02
    assert float((y3 - resize(y2, y3.shape[-2:])).abs().mean()) < 0.01


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_every_generator_starts_close_to_a_flat_picture(arch):
    torch.manual_seed(0)
    network_class, config_class = ARCHITECTURES[arch]
    net = network_class(config_class()).eval()
    with torch.no_grad():
        y = net(torch.rand(1, 3, 64, 64), network_class.training_sizes(64))[-1]
    assert float(y.std()) < 0.05, arch


def test_adam_is_not_stalled_by_a_start_up_spike(vgg, photos, style):
    """Full-width MT-Net, real VGG-19, 20 iterations on small crops: Adam's remembered
    gradient size stays near the current one. With PyTorch's default output layers the
    median sqrt(v_hat)/|g| passes 50 by iteration 20 (the step is then ~1/50 of the lr)."""
    from brushwork.images import load_image, to_tensor

    torch.manual_seed(0)
    net = MTNet(NetworkConfig())
    criterion = HierarchicalLoss(vgg, [to_tensor(load_image(style))] * 3,
                                 LossConfig(style_sizes=(32, 64, 64)))
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    stream = PhotoStream(sorted(photos.iterdir()), 64, seed=0, photo_size=64)
    sizes = MTNet.training_sizes(64)
    grad_norms, ratios = [], []
    for _ in range(20):
        training_step(net, criterion, optimizer, next(stream), sizes, False)
        grad_norms.append(sum(float(p.grad.pow(2).sum()) for p in net.style.parameters()) ** 0.5)
        ratios.append(adam_memory_ratio(optimizer))
    assert ratios[-1] < 10, ratios
    assert grad_norms[0] < 30 * min(grad_norms[1:]), grad_norms


def test_photos_are_scaled_to_photo_size_before_the_crop(tmp_path):
    """A 256 px crop must show the texture scale of the paper's 512 px photo, not a photo
    squeezed to 256: a horizontal ramp scaled to short side 64 and cropped to 32 spans a
    quarter of the ramp (half when the photo is scaled to the crop)."""
    from PIL import Image

    ramp = torch.linspace(0, 1, 400).expand(200, 400)
    path = tmp_path / "ramp.png"
    Image.fromarray((ramp * 255).round().byte().numpy(), "L").convert("RGB").save(path)
    for photo_size, expected in ((64, 0.25), (0, 0.5)):
        stream = PhotoStream([path], 32, seed=0, photo_size=photo_size)
        for _ in range(3):
            crop = next(stream)[0, 0]
            span = float(crop.max() - crop.min())
            assert abs(span - expected) < 0.05, (photo_size, span)


def test_losses_are_float32_under_bf16_autocast():
    torch.manual_seed(0)
    features = torch.randn(1, 64, 64, 64) * 10
    other = features + 0.1 * torch.randn_like(features)
    reference = gram(features.double())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        g = gram(features)
        content = content_loss(features.bfloat16(), other.bfloat16())
        texture = texture_loss([gram(other)], [g])
    assert g.dtype == content.dtype == texture.dtype == torch.float32
    # bf16 sums (what autocast did to torch.bmm before) are off by ~1e-3 relative.
    assert float((g.double() - reference).abs().max() / reference.abs().max()) < 1e-6
    expected = F.mse_loss(features.bfloat16().double(), other.bfloat16().double())
    assert abs(float(content) - float(expected)) / float(expected) < 1e-5


def test_bf16_training_runs_and_learns(style, photos, tmp_path):
    """The default mixed-precision path (bf16 autocast), not only float32: it trains, logs
    finite losses and Adam's ratio, and writes a model that says it was bf16."""
    output = tmp_path / "bf16.safetensors"
    config = TrainConfig(iterations=4, crop_size=32, photo_size=32, checkpoint_every=10,
                         preview_every=1000, texture_warmup=0, mixed_precision=True)
    train(style, photos, output, network=TINY, loss=LossConfig(style_sizes=(16, 32, 64)),
          config=config)
    log = [json.loads(line) for line in (tmp_path / "bf16.run" / "loss.jsonl").open()]
    assert len(log) == 4 and all(torch.isfinite(torch.tensor(r["total"])) for r in log)
    assert all("adam_ratio" in r for r in log)
    _, metadata = read_model_file(output)
    bf16_capable = torch.backends.mkldnn.is_available() and _cpu_bf16()
    assert metadata["record"]["bf16"] is bf16_capable


def _cpu_bf16() -> bool:
    from brushwork.devices import mixed_precision_supported

    return mixed_precision_supported(torch.device("cpu"))


def test_a_time_budget_stops_training_and_writes_the_model(style, photos, tmp_path):
    output = tmp_path / "budget.safetensors"
    events = []
    config = TrainConfig(iterations=30, crop_size=32, photo_size=32, checkpoint_every=100,
                         preview_every=1000, mixed_precision=False, minutes=1e-4)
    train(style, photos, output, network=TINY, loss=LossConfig(style_sizes=(16, 32, 64)),
          config=config, callback=events.append)
    _, metadata = read_model_file(output)
    assert metadata["record"]["iterations"] == 1  # the first iteration crosses 6 ms
    assert any(e.kind == "warning" and "budget" in e.message for e in events)
    iteration_events = [e for e in events if e.kind == "iteration"]
    assert iteration_events[0].budget == pytest.approx(0.006)
    # Resuming with a larger budget goes on; the iteration count is unchanged.
    bigger = TrainConfig(iterations=30, minutes=60)
    train(style, photos, output, config=bigger, resume=True)
    _, metadata = read_model_file(output)
    assert metadata["record"]["iterations"] == 30
    assert metadata["train"]["minutes"] == 60
