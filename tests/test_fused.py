"""The network ``fuse`` builds for inference (networks/fused.py) computes the modules' function.

Its rewrites are checked one by one against the layers they replace, in float64 (a mistake
is ~1e-3 or more, rounding ~1e-13), then ``fuse(net)(x) == net(x)`` for every architecture
and every answer of the kernel chooser, and on the shipped model the default precision's
painting is checked against float32 PyTorch's modules (>= 40 dB PSNR).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from brushwork import hierarchy, hyper_parameters
from brushwork.api import load_model
from brushwork.evaluation import psnr
from brushwork.networks import ARCHITECTURES, build_network, fused
from brushwork.networks.blocks import Conv, ResizeConv
from brushwork.networks.fused import fuse, padded_conv, strip_conv, transposed_weights
from brushwork.networks.multimodal import MTNet
from tests.helpers import TINY, paints

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "docs" / "samples" / "giraffe.jpg"
HELD_OUT = REPO / "docs" / "held-out-photos.txt"
PHOTOS = REPO.parent / "shared" / "data" / "photos"
#: The issue's bar for a faster path: PSNR against today's float32 painting.
MIN_PSNR = 40.0


def rand(*shape: int) -> torch.Tensor:
    return torch.rand(*shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize(("stride", "pad", "shape"), [
    (1, 1, (37, 50)), (2, 1, (40, 34)), (2, 1, (41, 33)), (1, 4, (36, 45)), (2, 4, (44, 39)),
])
def test_strips_are_reflection_padding_then_convolution(stride, pad, shape):
    """Odd and even sides, strides 1 and 2, the 3x3 and the 9x9 input convolutions."""
    x = rand(1, 5, *shape)
    weight = rand(6, 5, 2 * pad + 1, 2 * pad + 1) - 0.5
    bias = rand(6)
    expected = F.conv2d(F.pad(x, (pad,) * 4, mode="reflect"), weight, bias, stride)
    torch.testing.assert_close(strip_conv(x, weight, bias, stride, pad), expected,
                               rtol=0, atol=1e-12)
    torch.testing.assert_close(padded_conv(x, weight, bias, stride, pad), expected,
                               rtol=0, atol=1e-12)


@pytest.mark.parametrize("strips_win", [True, False])
def test_reflect_conv_uses_the_form_this_machine_measured_faster(strips_win, monkeypatch):
    """Above STRIPS_FROM the cached answer of ``kernel_choice`` decides; both are exact."""
    monkeypatch.setattr(hyper_parameters, "STRIPS_FROM", 0)
    calls = []
    monkeypatch.setattr(fused, "strip_conv", lambda *a: calls.append("strips") or 0)
    monkeypatch.setattr(fused, "padded_conv", lambda *a: calls.append("padded") or 0)
    monkeypatch.setattr(fused, "choose",
                        lambda question, candidates: "strips" if strips_win else "padded copy")
    # (the candidates are never built: the answer is known)
    fused.reflect_conv(rand(1, 5, 40, 40), rand(6, 5, 3, 3), None, 1, 1)
    assert calls == ["strips" if strips_win else "padded"]


@pytest.mark.parametrize("shape", [(5, 7), (8, 8), (1, 3)])
def test_a_resize_convolution_is_one_transposed_convolution_of_the_small_image(shape):
    """Nearest x2, reflection pad 1, 3x3 conv == edge pad 1, stride-2 transposed conv."""
    layer = ResizeConv(4, 3).double()
    x = rand(1, 4, *shape)
    pad, conv = layer[1][0], layer[1][1]
    transposed = F.conv_transpose2d(F.pad(x, (1, 1, 1, 1), mode="replicate"),
                                    transposed_weights(conv.weight), conv.bias, stride=2,
                                    padding=3)
    with torch.no_grad():
        torch.testing.assert_close(transposed, conv(pad(layer[0](x))), rtol=0, atol=1e-12)


#: Every way the machine may answer the two measured questions (``kernel_choice``).
CHOICES = {"plain": {"reflect-conv": "padded copy", "resize-conv": "upsampled"},
           "rewritten": {"reflect-conv": "strips", "resize-conv": "transposed"}}
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def answering(monkeypatch, choices: dict[str, str]) -> None:
    """Make the machine's measured answers ``choices``, with strips from any size."""
    monkeypatch.setattr(hyper_parameters, "STRIPS_FROM", 0)
    monkeypatch.setattr(fused, "choose",
                        lambda question, candidates: choices[question.split("/")[0]])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("choices", list(CHOICES))
@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_fuse_computes_the_networks_function(arch, choices, device, monkeypatch):
    """``fuse(net)(x) == net(x)`` for every architecture, with each answer the kernel
    chooser may give, on a 3:2 photo through every level (float64 on the CPU: a mistake is
    ~1e-3 or more, rounding ~1e-13; float32 on a GPU)."""
    answering(monkeypatch, CHOICES[choices])
    dtype = torch.float64 if device == "cpu" else torch.float32
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = paints(build_network(arch, TINY[arch].to_dict())).to(device, dtype)
    fast = fuse(net)
    photo = rand(1, 3, 64, 96).to(device, dtype)
    size = 48 if arch == "ds-net" else 96
    with torch.inference_mode():
        expected = hierarchy.stylize_tensor(net, photo, size)
        levels = hierarchy.stylize_tensor(fast, photo, size)
    tolerance = 1e-10 if dtype == torch.float64 else 1e-4
    assert len(levels) == len(expected)
    for level, reference in zip(levels, expected):
        torch.testing.assert_close(level, reference, rtol=0, atol=tolerance)


def test_fuse_shares_the_weights_and_leaves_the_network_as_it_was():
    """The fused network is built of inference layers around the same parameters (no
    copy); the network it came from keeps its own modules and hooks table."""
    net = MTNet(TINY["mtnet"]).eval()
    before = [type(m) for m in net.modules()]
    fast = fuse(net)
    assert [type(m) for m in net.modules()] == before
    kinds = {type(m) for m in fast.modules()}
    assert {fused.ReflectConv2d, fused.UpsamplingConv2d, fused.InPlaceInstanceNorm2d} <= kinds
    assert not kinds & {nn.ReflectionPad2d, nn.Upsample}
    assert ({p.data_ptr() for p in fast.parameters()}
            == {p.data_ptr() for p in net.parameters()})
    fast.refine.register_forward_hook(lambda *_: None)
    assert not net.refine._forward_hooks


def test_a_subnet_of_the_fused_network_is_still_called_as_a_module():
    """Progress reports and experiments watch subnets with forward hooks."""
    fast = fuse(MTNet(TINY["mtnet"]).eval())
    seen: list[tuple[int, ...]] = []
    fast.refine.register_forward_pre_hook(lambda _m, args: seen.append(tuple(args[0].shape)))
    with torch.inference_mode():
        hierarchy.stylize_tensor(fast, torch.rand(1, 3, 64, 64), 64)
    assert seen == [(1, 3, 64, 64)]


def test_with_autograd_the_fused_network_trains_the_same_weights(monkeypatch):
    """Autograd on (no in-place norm, the 3x3 kernel rather than the derived one): the
    same output, and the gradients reach the shared parameters."""
    answering(monkeypatch, CHOICES["rewritten"])
    net = paints(build_network("johnson", TINY["johnson"].to_dict())).double()
    fast = fuse(net)
    x = rand(1, 3, 32, 32)
    expected = net(x)[-1]
    result = fast(x)[-1]
    torch.testing.assert_close(result, expected, rtol=0, atol=1e-10)
    result.sum().backward()
    assert all(p.grad is not None for p in net.parameters())


def test_instance_norm_of_a_batch_uses_the_module():
    """Batch norm's statistics are instance norm's for one image only."""
    block = Conv(3, 4, 3).double().eval()
    x = rand(2, 3, 16, 16)
    with torch.inference_mode():
        torch.testing.assert_close(fuse(block)(x), block(x), rtol=0, atol=1e-12)


def painting_psnr(photo: Image.Image, size: int) -> float:
    """PSNR of the shipped model's default path (precision "auto": bfloat16 where the CPU
    computes it, fused kernels) against float32 PyTorch with the modules' own forward."""
    fast = load_model("starry-night", device="cpu")
    reference = load_model("starry-night", device="cpu", precision="float32")
    with torch.inference_mode():
        painted = hierarchy.stylize_tensor(fast.inference, fast._photo_tensor(photo), size)
        expected = hierarchy.stylize_tensor(  # the modules, not fused
            reference.network, reference._photo_tensor(photo), size)
    return psnr(painted[-1].clamp(0, 1), expected[-1].clamp(0, 1))


def test_the_shipped_model_paints_as_float32_does():
    """starry-night on the sample photo at 384 px (default run): the fast default path stays
    >= 40 dB from float32 PyTorch (measured 1024 px, 20 held-back photos: 52.0-55.7 dB)."""
    assert painting_psnr(Image.open(SAMPLE).convert("RGB"), 384) >= MIN_PSNR


def test_the_photo_stays_float32_in_bfloat16():
    """Rounding the photo to bfloat16 cost up to 23 dB: the first level reads it in float32."""
    model = load_model("starry-night", device="cpu", precision="bfloat16")
    assert model._photo_tensor(Image.new("RGB", (8, 8))).dtype == torch.float32
    assert next(model.network.style.rgb_block.parameters()).dtype == torch.float32
    assert next(model.network.style.conv_block.parameters()).dtype == torch.bfloat16


def test_importing_brushwork_asks_for_huge_pages_and_passive_threads_unless_told():
    """Both must be in the environment before torch loads (docs/performance.md: 7-10% from huge
    pages; passive OpenMP waiting 2.2 s instead of 6.2 s at 1024 beside another busy process)."""
    show = ("import os, brushwork; print(os.environ['THP_MEM_ALLOC_ENABLE'], "
            "os.environ['OMP_WAIT_POLICY'])")
    env = {k: v for k, v in os.environ.items()
           if k not in ("THP_MEM_ALLOC_ENABLE", "OMP_WAIT_POLICY")}
    run = subprocess.run([sys.executable, "-c", show], env=env, capture_output=True,
                         text=True, check=True)
    assert run.stdout.split() == ["1", "PASSIVE"]
    env.update(THP_MEM_ALLOC_ENABLE="0", OMP_WAIT_POLICY="ACTIVE")
    run = subprocess.run([sys.executable, "-c", show], env=env, capture_output=True,
                         text=True, check=True)
    assert run.stdout.split() == ["0", "ACTIVE"]


@pytest.mark.slow
@pytest.mark.skipif(not PHOTOS.is_dir(), reason="needs the shared held-back photos")
@pytest.mark.parametrize("name", ["gcompris-qt-data-giraffe-b.jpg", "lxqt-themes-drop.jpg",
                                  "gcompris-qt-data-middleeast.jpg"])
def test_held_back_photos_at_1024_px(name):
    """The worst held-back photos at 1024 px (giraffe-b measured 52.0 dB, the lowest of 20;
    lxqt-themes-drop and middleeast were 32.2 and 31.9 dB with the photo in bfloat16)."""
    assert name in HELD_OUT.read_text().split()
    assert painting_psnr(Image.open(PHOTOS / name).convert("RGB"), 1024) >= MIN_PSNR
