"""Tiled inference equals untiled inference, within a memory budget (high-resolution issue).

Tiny networks (the layout of MT-Net, a few thousand parameters) on images of ~100-200 px,
with tiles forced down to 16-32 px, so most tests take a fraction of a second (the ones that
tile every architecture twice, in float64 and float32, take a few).
"""

from __future__ import annotations

from fractions import Fraction
from typing import ClassVar

import numpy as np
import pytest
import torch
from torch import nn

from brushwork import hierarchy, hyper_parameters, tiling
from brushwork.api import load_model
from brushwork.cli import main
from brushwork.errors import BrushworkError
from brushwork.networks import ARCHITECTURES, build_network
from brushwork.networks import fused as fused_module
from brushwork.networks.blocks import Conv, ResidualBlock, ResizeConv, Run, add_input, call
from brushwork.networks.fused import fuse
from brushwork.networks.multimodal import MTNet, RefineSubnet
from tests.helpers import TINY, TINY_MT, make_photo, paints


class Opaque(nn.Module):
    """A subnet behind a forward the tiler cannot see into: tiled as one piece, so every
    norm layer's statistics are streamed over the tiles, one pass per layer."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x)


class RecordingRunner(tiling.TiledRunner):
    """A TiledRunner that remembers the runners stylize_tensor makes."""

    made: ClassVar[list[tiling.TiledRunner]] = []

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        RecordingRunner.made.append(self)


@pytest.fixture
def runners(monkeypatch) -> list[tiling.TiledRunner]:
    RecordingRunner.made = []
    monkeypatch.setattr(hierarchy, "TiledRunner", RecordingRunner)
    return RecordingRunner.made


def grid(tiles: list[tiling.Tile]) -> tuple[int, int]:
    """(rows, columns) of tiles."""
    return len({t.interior[0] for t in tiles}), len({t.interior[2] for t in tiles})


def subnet(network: MTNet, name: str) -> tuple[nn.Module, tuple[int, int]]:
    """A subnet and a non-square input size it accepts (multiples of its stride)."""
    sizes = {"style": (40, 56), "enhance": (96, 80), "refine": (96, 128)}
    return getattr(network, name), sizes[name]


# ------------------------------------------------------------------------------ exactness


@pytest.mark.parametrize("name", ["style", "enhance", "refine"])
@pytest.mark.parametrize("opaque", [False, True], ids=["layer-wise", "streamed"])
def test_tiled_subnet_equals_untiled(tiny_network, name, opaque):
    module, (h, w) = subnet(tiny_network.eval(), name)
    if opaque:
        module = Opaque(module)
    x = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(0))
    runner = tiling.TiledRunner(None, tile=16)
    with torch.no_grad():
        expected = module(x)
        tiled = runner.run(module, x)
    assert max(min(grid(t)) for t in runner.tilings) >= 2  # several tiles both ways
    torch.testing.assert_close(tiled, expected, rtol=0, atol=1e-4)


def test_hierarchy_under_a_small_budget_equals_untiled(tiny_network, runners):
    # 200x150 -> 224x160 after padding to a multiple of 32; levels 56x40, 112x80, 224x160.
    net = tiny_network.eval()
    photo = torch.rand(1, 3, 150, 200, generator=torch.Generator().manual_seed(0))
    full = torch.zeros(1, 3, 160, 224)
    budget = int(0.5 * tiling.estimated_peak(net, full))
    with torch.no_grad():
        expected = hierarchy.stylize_tensor(net, photo, 200)
        levels = hierarchy.stylize_tensor(net, photo, 200, max_memory=budget)
    (runner,) = runners
    assert runner.tilings and max(min(grid(t)) for t in runner.tilings) >= 2
    assert [level.shape[-2:] for level in levels] == [(38, 50), (75, 100), (150, 200)]
    for level, reference in zip(levels, expected):
        torch.testing.assert_close(level, reference, rtol=0, atol=1e-4)


def test_per_tile_statistics_would_leave_seams(tiny_network):
    """What the whole-image statistics are for: the same tiles, each normalised by its own
    statistics, give a visibly different picture."""
    module = tiny_network.eval().refine
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        # An output layer that paints, like a trained one: a new network's starts out
        # nearly constant (start_output_layer), which would hide the seams.
        torch.manual_seed(0)
        module.decoder[-1][1].reset_parameters()
    x = torch.rand(1, 3, 96, 128, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = module(x)
        naive = torch.empty_like(expected)
        for tile in tiling.plan_tiles(96, 128, halo=28, align=4, max_side=32):
            top, bottom, left, right = tile.region
            y = module(x[..., top:bottom, left:right])
            naive[(..., *tile.placed(Fraction(1)))] = y[(..., *tile.crop(Fraction(1)))]
        tiled = tiling.run_tiled(Opaque(module), x, tile=32)
    assert (naive - expected).abs().max() > 0.05
    torch.testing.assert_close(tiled, expected, rtol=0, atol=1e-4)


def test_norm_terms_match_pytorchs_instance_norm_bit_for_bit():
    norm = nn.InstanceNorm2d(8, affine=True)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        norm.weight.uniform_(-2, 2, generator=g)
        norm.bias.uniform_(-1, 1, generator=g)
    x = torch.randn(1, 8, 64, 48, generator=g) * 3 + 1
    for dtype in (torch.float32, torch.bfloat16):
        norm, x = norm.to(dtype), x.to(dtype)
        with torch.no_grad():
            alpha, beta = tiling._affine_terms(norm, *tiling._moments(x), x.dtype)
            expected = norm(x)
        tolerance = 1e-6 if dtype == torch.float32 else 0.0  # bf16 rounds where PyTorch does
        torch.testing.assert_close(tiling._affine(x, alpha, beta), expected, rtol=0,
                                   atol=tolerance)


# ------------------------------------------------------------- one forward for both runs

class SmallTiles(RecordingRunner):
    """A runner that tiles everything, in tiles of at most 16 px, whatever the budget."""

    def __init__(self, budget: int | None, records: dict | None = None,
                 tile: int | None = None) -> None:
        super().__init__(budget, records, tile=16)


@pytest.fixture
def small_tiles(monkeypatch) -> list[tiling.TiledRunner]:
    RecordingRunner.made = []
    monkeypatch.setattr(hierarchy, "TiledRunner", SmallTiles)
    return RecordingRunner.made


def assert_tiled_equals_untiled(net: nn.Module, made: list[tiling.TiledRunner],
                                size: int, fused: bool = False) -> None:
    """Every level of ``net`` on a 4:3 photo of long side ``size``, tiled by the
    ``small_tiles`` runner and untiled, through ``stylize_tensor`` as the app runs it.

    In float64, tiled must equal untiled to 1e-10: a mistake of the tiler is ~1e-3 or more,
    rounding ~1e-13 (measured: at most 1.5e-13). In float32 a hierarchy with random weights
    amplifies rounding: the tiny MT-Net's final level is 1.5e-3 from float64 untiled, and
    tiled and untiled differ by up to 2.5e-4. So each float32 level's tolerance is 1e-4 plus
    4 times that level's untiled float32 distance from float64. ``fused``: the tiled run
    paints with ``fuse(net)``, as ``load_model`` does, against the modules untiled.
    """
    photo = torch.rand(1, 3, size * 3 // 4, size, generator=torch.Generator().manual_seed(0))
    runs = {}
    for dtype in (torch.float64, torch.float32):  # converting back to float32 is exact
        net.to(dtype)
        painter = fuse(net) if fused else net  # fused in the dtype it runs in, as loaded
        with torch.no_grad():
            runs[dtype] = (hierarchy.stylize_tensor(net, photo.to(dtype), size),
                           hierarchy.stylize_tensor(painter, photo.to(dtype), size,
                                                         max_memory="1GB"))
    assert made and all(max(min(grid(t)) for t in runner.tilings) >= 2 for runner in made)
    (exact, tiled64), (untiled, tiled) = runs[torch.float64], runs[torch.float32]
    assert len(tiled64) == len(exact) == len(tiled) == len(untiled)
    for level64, truth, level, reference in zip(tiled64, exact, tiled, untiled):
        torch.testing.assert_close(level64, truth, rtol=0, atol=1e-10)
        rounding = (reference.double() - truth).abs().max().item()
        torch.testing.assert_close(level, reference, rtol=0, atol=1e-4 + 4 * rounding)


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_every_architecture_tiled_equals_untiled(arch, small_tiles):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = paints(build_network(arch, TINY[arch].to_dict()))
    assert_tiled_equals_untiled(net, small_tiles, 48 if arch == "ds-net" else 96)


@pytest.mark.parametrize("arch", ["mtnet", "johnson"])
def test_the_fused_network_tiled_equals_the_modules_untiled(arch, small_tiles, monkeypatch):
    """The tiler runs what ``load_model`` paints with, its fused layers (strips and the
    transposed resize-convolutions forced on, in-place norms) replaced by whole-image norms
    in the tiles: still the modules' function."""
    monkeypatch.setattr(hyper_parameters, "STRIPS_FROM", 0)
    monkeypatch.setattr(fused_module, "choose",
                        lambda question, candidates: {"reflect-conv": "strips"}.get(
                            question.split("/")[0], "transposed"))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = paints(build_network(arch, TINY[arch].to_dict()))
    assert_tiled_equals_untiled(net, small_tiles, 96, fused=True)


class NegatedRefine(RefineSubnet):
    """A refine subnet composed unlike ``RefineSubnet``: it encodes its input negated and
    adds its input twice. The tiler is not told; it runs this ``compose`` as it is."""

    def __init__(self, widths: tuple[int, ...], blocks: int) -> None:
        super().__init__(widths, blocks)
        self.runs: list[Run] = []

    def compose(self, x: torch.Tensor, run: Run) -> torch.Tensor:
        self.runs.append(run)
        negated = -x
        encoded = run(self.encoder, negated, x.nbytes)
        del negated
        decoded = run(self.decoder, encoded, x.nbytes)
        del encoded
        return add_input(add_input(decoded, x), x)


class OwnForwardRefine(RefineSubnet):
    """A refine subnet that overrides ``forward`` rather than ``compose``: the tiler must not
    run ``compose`` (it would miss the halving), so it tiles the subnet as one opaque piece."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x) * 0.5


@pytest.mark.parametrize("variant", [NegatedRefine, OwnForwardRefine])
def test_a_changed_subnet_is_tiled_by_its_own_forward(variant, small_tiles):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = MTNet(TINY_MT)
        net.refine = variant(TINY_MT.refine, TINY_MT.residual_blocks)
    assert_tiled_equals_untiled(paints(net), small_tiles, 96)
    if variant is NegatedRefine:  # run whole by forward, and child by child by the tiler
        assert call in net.refine.runs and any(run is not call for run in net.refine.runs)


def test_the_composed_forward_keeps_autograd_and_its_input(tiny_network):
    """Training differentiates the plain forward: the identity connections add out of place
    there, and in place only where no graph can need the tensor (the result is the same)."""
    refine = tiny_network.refine
    x = torch.rand(1, 3, 32, 48, generator=torch.Generator().manual_seed(0))
    kept = x.clone()
    with torch.no_grad():
        in_place = refine(x)
    assert torch.equal(x, kept)
    x.requires_grad_(True)
    y = refine(x)
    assert torch.equal(y.detach(), in_place)
    y.square().sum().backward()
    assert x.grad is not None and all(p.grad is not None for p in refine.parameters())


@pytest.mark.parametrize("size", [1024, pytest.param(2048, marks=pytest.mark.slow)])
def test_the_shipped_network_tiled_equals_untiled_at_full_size(size, runners):
    """The real MT-Net with trained weights (the built-in starry-night) on a 4:3 photo at
    1024 px (three levels) and, behind the slow marker, 2048 px (four: an extra refine pass),
    under a budget a third of what the untiled final level needs, against the untiled run.
    The tiny networks above are checked to 224 px; this is the size people paint at, where
    every level is cut into tiles of a few hundred pixels. In float32 the two agree to ~1e-5
    in the contiguous layout (module docstring of ``tiling``) and ~1e-4 channels-last, where
    oneDNN sums in another order for each tile shape and the trained network amplifies it; a
    tiler mistake (a short halo, per-tile statistics) is ~1e-3 or more."""
    net = load_model("starry-night", device="cpu", precision="float32").network
    photo = make_photo((size, size * 3 // 4))
    x = torch.from_numpy(np.asarray(photo, dtype=np.float32) / 255).permute(2, 0, 1)[None]
    last = torch.zeros(1, 3, size * 3 // 4, size)
    budget = int(tiling.estimated_peak(net.refine, last) / 3)
    with torch.no_grad():
        untiled = hierarchy.stylize_tensor(net, x, size)
        tiled = hierarchy.stylize_tensor(net, x, size, max_memory=budget)
    (runner,) = runners
    assert len(runner.tilings) >= 3 and max(len(t) for t in runner.tilings) >= 4
    assert len(tiled) == len(untiled) == (3 if size == 1024 else 4)
    for level, reference in zip(tiled, untiled):
        assert reference.std() > 0.05  # a painting, not a flat picture
        torch.testing.assert_close(level, reference, rtol=0, atol=4e-4)


# ------------------------------------------------------------------------------- geometry


def test_reach_of_known_layers():
    assert tiling.measure_reach(Conv(3, 4, 9), 3, 1, Fraction(1)) == 4
    assert tiling.measure_reach(Conv(4, 4, 3, stride=2), 4, 2, Fraction(1, 2)) == 1
    assert tiling.measure_reach(ResidualBlock(4), 4, 1, Fraction(1)) == 2
    assert tiling.measure_reach(ResizeConv(4, 4), 4, 1, Fraction(2)) == 1


@pytest.mark.parametrize("name", ["style", "enhance", "refine"])
def test_composed_reach_matches_the_impulse_probe(tiny_network, name):
    module, (h, w) = subnet(tiny_network, name)
    runner = tiling.TiledRunner(None, tiling.profile(module, torch.zeros(1, 3, h, w)), tile=16)
    chains = [c for c in module.children() if isinstance(c, nn.Sequential)]
    for chain in chains:
        piece = runner._piece(tuple(tiling._flatten(chain)))
        probed = tiling.measure_reach(piece.module, piece.in_shape[1], piece.align, piece.scale)
        assert runner._reach(piece) == probed > 0


def test_tiles_cover_the_image_once_on_stride_multiples():
    tiles = tiling.plan_tiles(96, 136, halo=12, align=8, max_side=40)  # halo -> 16
    covered = torch.zeros(96, 136, dtype=torch.int)
    for tile in tiles:
        top, bottom, left, right = tile.interior
        covered[top:bottom, left:right] += 1
        assert all(v % 8 == 0 for v in (*tile.region, *tile.interior))
        assert tile.region[0] == max(0, top - 16) and tile.region[3] == min(136, right + 16)
    assert bool((covered == 1).all())


# --------------------------------------------------------------------------------- budget


def test_smaller_budget_smaller_tiles(tiny_network):
    module = Opaque(tiny_network.eval().refine)
    x = torch.rand(1, 3, 160, 192, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = module(x)
    peak = tiling.estimated_peak(module, x)
    largest = []
    for fraction in (0.9, 0.6):
        runner = tiling.TiledRunner(int(fraction * peak))
        with torch.no_grad():
            torch.testing.assert_close(runner.run(module, x), expected, rtol=0, atol=1e-4)
        (tiles,) = runner.tilings
        largest.append(max((t.region[1] - t.region[0]) * (t.region[3] - t.region[2])
                           for t in tiles))
        assert largest[-1] * tiling.profile(module, x)[id(module)].peak / 256**2 <= peak
    assert largest[1] < largest[0]


def test_untiled_when_it_fits(tiny_network, runners):
    net = tiny_network.eval()
    seen = []
    net.refine.register_forward_pre_hook(lambda _m, args: seen.append(args[0].shape))
    photo = torch.rand(1, 3, 150, 200, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = hierarchy.stylize_tensor(net, photo, 200)
        levels = hierarchy.stylize_tensor(net, photo, 200, max_memory="1GB")
    assert seen[-1][-2:] == (152, 200)  # the refine subnet saw the whole (padded) image
    assert runners[0].tilings == []
    for level, reference in zip(levels, expected):
        assert torch.equal(level, reference)


def test_a_budget_too_small_says_so(tiny_network):
    photo = torch.rand(1, 3, 150, 200)
    with pytest.raises(BrushworkError, match=r"too small.*--max-memory"):
        hierarchy.stylize_tensor(tiny_network.eval(), photo, 200, max_memory=20_000)


@pytest.mark.parametrize(("text", "expected"), [
    ("2GB", 2 * 1024**3), ("512MB", 512 * 1024**2), ("1.5G", 3 * 1024**3 // 2),
    ("800MiB", 800 * 1024**2), ("64k", 65536), ("1024", 1024), (" 3 gb ", 3 * 1024**3),
])
def test_parse_memory(text, expected):
    assert tiling.parse_memory(text) == expected


@pytest.mark.parametrize("text", ["", "lots", "-1GB", "0", "0MB", "1.5XB", "GB", "1e9"])
def test_parse_memory_rejects_nonsense(text):
    with pytest.raises(BrushworkError):
        tiling.parse_memory(text)


def test_automatic_budget_is_half_the_free_memory_at_most_2gib(monkeypatch):
    monkeypatch.setattr(tiling, "available_memory", lambda: 1024**3)
    assert tiling.memory_budget(None) == 512 * 1024**2
    monkeypatch.setattr(tiling, "available_memory", lambda: 64 * 1024**3)
    assert tiling.memory_budget(None) == tiling.DEFAULT_MAX_MEMORY == 2 * 1024**3


@pytest.mark.parametrize("value", [0, -5, 1.5, True, "lots"])
def test_bad_max_memory_in_the_api(value):
    with pytest.raises(BrushworkError):
        tiling.memory_budget(value)


# ------------------------------------------------------------------------ API and CLI


def test_stylizer_takes_a_budget(tiny_model_file):
    model = load_model(tiny_model_file, precision="float32")
    photo = make_photo((200, 150))
    tight = model.stylize(photo, 200, max_memory=2_000_000)
    roomy = model.stylize(photo, 200)
    assert tight.size == roomy.size == (200, 150)
    difference = torch.tensor(
        [abs(a - b) for a, b in zip(tight.tobytes(), roomy.tobytes())], dtype=torch.float)
    assert difference.max() <= 1  # rounding to 8 bits at most


def test_cli_max_memory(capsys, tmp_path, tiny_model_file, sample_photo):
    out = tmp_path / "out.png"
    code = main(["stylize", str(sample_photo), "--model", str(tiny_model_file), "-o",
                 str(out), "--size", "96", "--max-memory", "3MB", "--precision", "float32"])
    assert code == 0 and out.exists()


def test_cli_bad_max_memory_is_a_usage_error(capsys, tmp_path, tiny_model_file, sample_photo):
    with pytest.raises(SystemExit) as exit_info:
        main(["stylize", str(sample_photo), "--model", str(tiny_model_file), "-o",
              str(tmp_path / "out.png"), "--max-memory", "lots"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "--max-memory" in err[-1] and "not an amount of memory" in err[-1]


def test_cli_budget_too_small_is_one_line(capsys, tmp_path, tiny_model_file, sample_photo):
    code = main(["stylize", str(sample_photo), "--model", str(tiny_model_file), "-o",
                 str(tmp_path / "out.png"), "--size", "200", "--max-memory", "20KB"])
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1 and "--max-memory" in err
