"""Helpers shared by several test modules: small made-up inputs and independent references.

Fixtures live in ``conftest.py``; the plain functions and constants that test modules (and
``experiments/reliability_report.py``, which runs some tests in full) call directly live here,
so no test module imports another.
"""

from __future__ import annotations

import gc
import struct
import zlib
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw
from torch import nn

from brushwork.evaluation import psnr as psnr  # the library's one definition, for tests
from brushwork.hyper_parameters import (
    JohnsonConfig,
    NetworkConfig,
    SingularConfig,
    TextureNetConfig,
)
from brushwork.model_files import save_model
from brushwork.networks.multimodal import MTNet

#: Size of the sample photo (width, height): 3:2 landscape.
PHOTO_SIZE = (300, 200)

#: A tiny configuration for every registered architecture (a new one needs an entry here).
TINY_MT = NetworkConfig.tiny()
TINY = {
    "mtnet": TINY_MT,
    "johnson": JohnsonConfig.tiny(),
    "texture-net": TextureNetConfig.tiny(),
    "singular": SingularConfig.tiny(),
    "ds-net": TINY_MT,
}


def paints(net: nn.Module, seed: int = 1) -> nn.Module:
    """``net`` with RGB output layers that paint, as trained ones do (returned, in eval mode).

    A new network's output layers start nearly constant (``start_output_layer``): it paints
    flat grey whatever the photo, so a flipped, shifted or wrong-level input would go
    unnoticed, and each level's input being nearly flat, its instance norms would amplify
    rounding (by ~700x between the enhance and refine levels; test_tiling). Here every conv
    with 3 output channels gets PyTorch's default (random) start, seeded.
    """
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed)
        for module in net.modules():
            if isinstance(module, nn.Conv2d) and module.out_channels == 3:
                module.reset_parameters()
    return net.eval()


def vivid_model(path: Path) -> Path:
    """A tiny MT-Net whose output layers are random, not the flat start (blocks.
    start_output_layer), so that different code paths would give visibly different pictures."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(7)
        network = MTNet(TINY_MT)
        for module in network.modules():
            if isinstance(module, torch.nn.Conv2d) and module.out_channels == 3:
                torch.nn.init.normal_(module.weight, std=0.2)
                torch.nn.init.uniform_(module.bias, 0.2, 0.8)
    save_model(path, network, {"architecture": "mtnet", "network": TINY_MT.to_dict()})
    return path


def tiny_model(path: Path) -> Path:
    """The tiny MT-Net of conftest's ``tiny_config`` (seeded), saved as a model file."""
    config = NetworkConfig.tiny()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1234)
        save_model(path, MTNet(config), {"architecture": "mtnet", "network": config.to_dict()})
    return path


def levels_by_hand(net: MTNet, photo: torch.Tensor,
                   sizes: list[tuple[int, int]]) -> list[torch.Tensor]:
    """The hierarchy written out from the paper (3.1), as an independent reference for
    ``stylize``: y1 = style(x resized to sizes[0]), y2 = enhance(y1 resized to sizes[1]),
    y3 = refine(y2 resized to sizes[2]); each further level refines again and keeps its
    input's mean colour (``hierarchy._keep_colour``). Resizing is bilinear, antialiased when
    shrinking (paper 3.3's fixed resampling layer). No padding is done: every size must
    already be a multiple of the subnet's stride (choose a 4:3 photo and sides of 16k).
    Model files hold float16 weights: compare a loaded model with its own ``network``.
    """
    subnets = [net.style, net.enhance] + [net.refine] * (len(sizes) - 2)
    levels, previous = [], photo
    with torch.no_grad():
        for k, (subnet, (h, w)) in enumerate(zip(subnets, sizes)):
            assert h % subnet.size_multiple == 0 and w % subnet.size_multiple == 0, (h, w)
            shrinking = h < previous.shape[-2] or w < previous.shape[-1]
            x = F.interpolate(previous, size=(h, w), mode="bilinear", align_corners=False,
                              antialias=shrinking)
            y = subnet(x)
            if k >= 3:
                y = y - y.mean(dim=(-2, -1), keepdim=True) + x.mean(dim=(-2, -1), keepdim=True)
            levels.append(y)
            previous = y
    return levels


def as_pixels(level: torch.Tensor) -> np.ndarray:
    """A (1, 3, H, W) level as the (H, W, 3) uint8 pixels a saved picture of it has."""
    return (level[0].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()


def make_photo(size: tuple[int, int] = PHOTO_SIZE) -> Image.Image:
    """A procedurally drawn RGB 'photo': a sky-like gradient, a sun, hills, a house."""
    width, height = size
    y = np.linspace(0.0, 1.0, height)[:, None] * np.ones((1, width))
    x = np.ones((height, 1)) * np.linspace(0.0, 1.0, width)[None, :]
    sky = np.stack([40 + 150 * y, 90 + 120 * x, 230 - 150 * y], axis=-1)
    image = Image.fromarray(sky.round().astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    draw.ellipse((width * 0.7, height * 0.1, width * 0.85, height * 0.32), fill=(250, 220, 90))
    draw.polygon([(0, height), (0, height * 0.65), (width * 0.4, height * 0.5),
                  (width, height * 0.7), (width, height)], fill=(60, 130, 50))
    draw.rectangle((width * 0.2, height * 0.45, width * 0.35, height * 0.75),
                   fill=(170, 60, 40), outline=(20, 20, 20))
    draw.line((0, height * 0.9, width, height * 0.8), fill=(240, 240, 240), width=3)
    return image


def drawn_image(path: Path, seed: int, size=(80, 60)) -> Path:
    """A small real image file: coloured shapes on a gradient."""
    g = torch.Generator().manual_seed(seed)
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(6):
        x0, y0 = (int(v) for v in torch.randint(0, min(size), (2,), generator=g))
        colour = tuple(int(v) for v in torch.randint(0, 256, (3,), generator=g))
        draw.ellipse([x0, y0, x0 + 20, y0 + 15], fill=colour)
    image.save(path)
    return path


def strokes(size: int, seed: int = 0) -> torch.Tensor:
    """A texture of short diagonal strokes, a few pixels wide: it has a definite scale."""
    g = torch.Generator().manual_seed(seed)
    noise = torch.rand(1, 3, size // 4, size // 4, generator=g)
    image = F.interpolate(noise, size=(size, size), mode="nearest")
    y = torch.arange(size).view(-1, 1)
    x = torch.arange(size).view(1, -1)
    stripes = (((x + y) // 3) % 2).float()
    return (0.6 * image + 0.4 * stripes).clamp(0, 1)


def png_claiming(width: int, height: int) -> bytes:
    """A ~60-byte PNG whose header claims ``width`` x ``height`` RGB pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


#: Peak RSS growth allowed while a hostile model file is refused.
HOSTILE_RSS_BOUND = 50 * 2**20


def _status_bytes(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise LookupError(key)


def peak_growth(action) -> int:
    """Bytes by which the process's peak RSS rises above its RSS before ``action()``.

    Writing 5 to /proc/self/clear_refs resets the peak (VmHWM) to the current RSS (Linux
    4.0+); where that is not possible, the RSS after ``action`` is compared instead.
    """
    if not Path("/proc/self/status").exists():
        pytest.skip("needs Linux's /proc to measure memory")
    gc.collect()
    before = _status_bytes("VmRSS")
    try:
        Path("/proc/self/clear_refs").write_text("5")
        key = "VmHWM"
    except OSError:
        key = "VmRSS"
    action()
    return _status_bytes(key) - before


# ----------------------------------------------------------------------------- video clips


#: Sample rate of the tone ``write_clip`` puts in a clip's sound track.
AUDIO_RATE = 8000


def scene(width: int, height: int, seed: int) -> np.ndarray:
    """A textured picture larger than the frames cut from it (RGB uint8)."""
    rng = np.random.default_rng(seed)
    photo = np.asarray(make_photo((width, height)), np.float32)
    noise = rng.normal(0, 25, (height // 8 + 1, width // 8 + 1, 3))
    texture = np.kron(noise, np.ones((8, 8, 1)))[:height, :width]
    return np.clip(photo + texture, 0, 255).astype(np.uint8)


def pan(frames: int, size: tuple[int, int] = (96, 64), step: int = 2, seed: int = 0
        ) -> list[np.ndarray]:
    """Frames of a pan right by ``step`` pixels a frame: frame t shows scene[:, t*step:]."""
    w, h = size
    big = scene(w + step * frames, h, seed)
    return [big[:, t * step:t * step + w] for t in range(frames)]


def write_clip(path: Path, frames: list[np.ndarray], durations_ms: list[int] | None = None,
               audio: bool = True, codec: str = "libx264", faststart: bool = False,
               rotation: int = 0) -> None:
    """A clip of ``frames`` (variable frame rate when ``durations_ms`` vary), with a sine
    tone as AAC when ``audio``, and a display matrix turning it by ``rotation`` degrees
    counter-clockwise (as a phone writes one) when given. Needs PyAV (the video extra),
    imported here so that the helpers import without it."""
    import av

    durations_ms = durations_ms or [40] * len(frames)
    h, w = frames[0].shape[:2]
    options = {"movflags": "faststart"} if faststart else {}  # the index before the frames
    with av.open(str(path), "w", container_options=options) as out:
        video = out.add_stream(codec, rate=25)
        video.width, video.height, video.pix_fmt = w, h, "yuv420p"
        if rotation:
            video.set_display_rotation(rotation)
        milliseconds = Fraction(1, 1000)  # the muxer may change the stream's time base
        video.time_base = video.codec_context.time_base = milliseconds
        sound = out.add_stream("aac", rate=AUDIO_RATE) if audio else None
        if sound is not None:
            sound.layout = "mono"
        t = 0
        for image, duration in zip(frames, durations_ms):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            frame.pts, frame.time_base = t, milliseconds
            t += duration
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if sound is not None:
            samples = AUDIO_RATE * t // 1000
            tone = (np.sin(np.arange(samples) * 2 * np.pi * 440 / AUDIO_RATE) * 9000)
            tone = tone.astype(np.int16)
            for start in range(0, samples, 1024):
                chunk = av.AudioFrame.from_ndarray(tone[None, start:start + 1024],
                                                   format="s16", layout="mono")
                chunk.sample_rate, chunk.pts = AUDIO_RATE, start
                out.mux(sound.encode(chunk))
            out.mux(sound.encode(None))


def packets(path: Path, kind: str) -> list[bytes]:
    """The payloads of a clip's first ``kind`` ("audio", "video") stream, in order."""
    import av

    with av.open(str(path)) as container:
        stream = getattr(container.streams, kind)[0]
        return [bytes(p) for p in container.demux(stream) if p.size]


def timing(path: Path) -> tuple[int, float, list[float]]:
    """(frames, duration in seconds, frame start times) of a clip's video stream."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        starts = sorted(float(f.pts * f.time_base) for f in container.decode(stream))
        duration = float(stream.duration * stream.time_base)
    return len(starts), duration, starts
