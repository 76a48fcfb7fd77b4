"""The Python API: load a model by built-in name or by path, stylise PIL images.

    model = brushwork.load_model("starry-night")        # or a path to a .safetensors file
    painting = model.stylize(photo, size=1024)           # PIL in, PIL out
    y1, y2, y3 = model.stylize_levels(photo, size=1024)  # every level (paper Fig. 4)
    soft = model.stylize(photo, preserve_color=True, strength=0.7)  # keep colours, less style
    quick = model.preview(photo)                         # the first level alone, 256 px
    mixed = brushwork.load_model("starry-night:0.6,mine.safetensors:0.4")  # mixing.py

A ``Stylizer`` is meant to be loaded once and reused: the web server keeps one per style and
the command line one per run, since reading and building the network costs more than painting
a small photo.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import torch
from PIL import Image
from torch import nn

from .color import adjust, check_strength
from .devices import mixed_precision_supported, resolve_device
from .errors import BrushworkError
from .hierarchy import paint_level, stylize_tensor
from .hyper_parameters import COARSE_SIZE, FLOAT32_PARTS, NETWORK_WIDTHS
from .images import to_image, to_tensor
from .kernel_choice import choose, probe_image
from .levels import check_coarse, check_size, level_long_sides, plan_levels
from .mixing import (
    MIX_MODES,
    MixPart,
    can_mix_weights,
    mix_label,
    mix_weights,
    normalise,
    parse_mix,
)
from .model_files import network_from_file, read_model_file
from .networks.fused import fuse
from .networks.multimodal import MTNet
from .tiling import memory_budget

STYLES_DIR = Path(__file__).parent / "styles"
#: The built-in styles' full-width networks (``NetworkConfig()``): what each style was trained
#: as. STYLES_DIR holds the slim networks distilled from them (``NetworkConfig.slim``), a
#: quarter of the arithmetic; a style not yet distilled has only its full-width file there.
FULL_DIR = STYLES_DIR / "full"
#: The built-in style painted when none is named (the command line, the web server).
DEFAULT_STYLE = "starry-night"
#: Long side of ``Stylizer.preview`` (ours): the first level of a 1024-px painting, cheap
#: enough (about 1/16 of the work at 1024) to show while the full result is computed.
PREVIEW_SIZE = 256

#: Called with (levels done, levels in all) as the subnets finish, coarse to fine.
LevelCallback = Callable[[int, int], None]


def available_styles() -> list[str]:
    """Names of the built-in styles shipped with the package."""
    return sorted(p.stem for p in STYLES_DIR.glob("*.safetensors"))


def style_card(name: str) -> dict[str, Any]:
    """The model card of a built-in style: artwork, artist, year, licence, source.

    A style without a card (or a styles folder without ``cards.json``) has an empty card:
    the model still works, and the web page and ``brushwork styles`` show its name.
    """
    path = STYLES_DIR / "cards.json"
    cards = json.loads(path.read_text()) if path.is_file() else {}
    return dict(cards.get(name, {}))


def resolve_model_path(name_or_path: str | Path, width: str = "slim") -> Path:
    """A built-in style name or a model file path -> the model file's path. ``width`` picks
    a built-in style's slim network (the default) or its full-width one (``FULL_DIR``)."""
    if width not in NETWORK_WIDTHS:
        raise BrushworkError(f"unknown width {width!r}; use one of {', '.join(NETWORK_WIDTHS)}")
    text = str(name_or_path)
    if text in available_styles():
        full = FULL_DIR / f"{text}.safetensors"
        return full if width == "full" and full.is_file() else STYLES_DIR / f"{text}.safetensors"
    path = Path(text)
    if path.suffix or path.exists() or "/" in text:
        return path
    known = ", ".join(available_styles()) or "none installed"
    raise BrushworkError(
        f"{text!r} is neither a built-in style ({known}) nor a model file"
    )


@dataclass
class Stylizer:
    """A loaded model ready to paint photos.

    ``network`` is the model as defined (its weights, its ONNX export); painting runs
    ``inference``, the same network rebuilt once for inference (``networks.fused.fuse``:
    shared weights, faster layers), made from ``network`` when not given.
    """

    network: nn.Module
    metadata: dict[str, Any]
    name: str
    device: torch.device
    dtype: torch.dtype = torch.float32
    inference: nn.Module | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.inference is None:
            self.inference = fuse(self.network)
        _ = self.coarse  # a file's bad coarse size fails at loading, not at painting

    @property
    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.network.parameters())

    @property
    def coarse(self) -> int:
        """The long side at which this model's style subnet paints by default: the one its
        training recorded (``TrainConfig.coarse_size``; the recipe's models paint at their
        training scale), the paper's 256 for files that record none."""
        value = (self.metadata.get("train") or {}).get("coarse_size", COARSE_SIZE)
        check_coarse(value)
        return value

    def _level_modules(self, size: int, coarse: int = COARSE_SIZE) -> list[nn.Module]:
        """The module that computes each level at ``size`` (``hierarchy.stylize_tensor``)."""
        net = self.inference
        assert net is not None  # set by __post_init__
        if not hasattr(net, "level_subnets"):  # a single-level baseline
            return [net]
        return list(cast(MTNet, net).level_subnets(len(level_long_sides(size, coarse))))

    def _photo_tensor(self, image: Image.Image) -> torch.Tensor:
        """The photo in float32 whatever the network's precision: only the first level reads
        it, in float32, and its branches amplify rounding. Rounded to bfloat16, 4 of the 20
        held-back photos painted below the 40 dB bar against float32 (measured in
        docs/performance.md, "Picture")."""
        return to_tensor(image).to(self.device, torch.float32)

    def stylize_levels(
        self, image: Image.Image, size: int = 1024, max_memory: int | str | None = None, *,
        preserve_color: bool = False, strength: float = 1.0,
        on_level: LevelCallback | None = None, coarse: int | None = None,
    ) -> list[Image.Image]:
        """Every level's output, coarse to fine: at 1024, 256, 512, 1024 on the long side
        (from 512 to 1024: 256, 512, size; below 512: size/4, size/2, size; beyond 1024, one
        refine level per doubling: ``levels.plan_levels``).

        ``max_memory`` bounds the tensors alive at once: bytes, a text like '1.5GB', or None
        for half the free memory, at most 2 GiB. What does not fit is computed in tiles, with
        the same result (``brushwork.tiling``). ``preserve_color`` and ``strength`` are
        applied to every level (``brushwork.color``). ``on_level(k, n)`` is called as each
        level finishes, for progress reports (the last one once it is a picture).

        ``coarse`` is the long side at which the style subnet paints outputs from
        ``2 * coarse`` (default: the model's own, ``Stylizer.coarse``, 256 for the built-in
        styles, so from 512; ``levels.plan_levels``). Smaller
        gives larger strokes relative to the picture; ``coarse`` = size / 4 runs the three
        levels at size/4, size/2, size, the naive schedule that
        docs/architecture.md ("Beyond 1024 px") compares with the default.
        """
        check_size(size)
        coarse = self.coarse if coarse is None else coarse
        check_coarse(coarse)
        strength = check_strength(strength)
        budget = memory_budget(max_memory, self.device)
        photo = self._photo_tensor(image)

        def report(k: int, n: int) -> None:  # the last level once it is a picture (below)
            if on_level is not None and k < n:
                on_level(k, n)

        assert self.inference is not None  # set by __post_init__
        with torch.inference_mode():
            levels = stylize_tensor(self.inference, photo, size, budget, coarse, report)
        if on_level is not None:
            on_level(len(levels), len(levels))
        return [adjust(to_image(level), image, preserve_color=preserve_color, strength=strength)
                for level in levels]

    def stylize(
        self, image: Image.Image, size: int = 1024, max_memory: int | str | None = None, *,
        preserve_color: bool = False, strength: float = 1.0,
        on_level: LevelCallback | None = None, coarse: int | None = None,
    ) -> Image.Image:
        """The final, full-size painting of ``image`` with long side ``size``.

        ``preserve_color`` keeps the photo's colours (luminance-only transfer, Gatys et al.
        2016); ``strength`` in [0, 1] blends the painting with the photo (1: full style).
        ``coarse``: see ``stylize_levels``.
        """
        check_strength(strength)
        painting = self.stylize_levels(image, size, max_memory, on_level=on_level,
                                       coarse=coarse)[-1]
        return adjust(painting, image, preserve_color=preserve_color, strength=strength)

    def preview(
        self, image: Image.Image, size: int = PREVIEW_SIZE, *, preserve_color: bool = False,
        strength: float = 1.0,
    ) -> Image.Image:
        """A quick look, long side ``size``: the style subnet alone.

        At the default 256 this is exactly the first level (y1) of every painting of 512 px
        or more (the style subnet always paints at 256 there: ``levels.plan_levels``),
        for a fraction of the work (1/16 of the pixels at 1024). MT-Net's first level
        already carries the colours and coarse texture (paper 3.1), so it is a faithful
        preview. A single-level network has no cheaper part: it runs whole at ``size``.
        """
        check_size(size)
        strength = check_strength(strength)
        if not hasattr(self.network, "level_subnets"):
            return self.stylize(image, size, preserve_color=preserve_color, strength=strength)
        first = self._level_modules(4 * COARSE_SIZE)[0]
        photo = self._photo_tensor(image)
        # The first level of a painting four times larger whose style subnet paints at size.
        height, width = photo.shape[-2:]
        visible = plan_levels(height, width, 4 * size, coarse=size)[0]
        with torch.inference_mode():
            level = paint_level(first, photo, visible).float()
        return adjust(to_image(level), image, preserve_color=preserve_color, strength=strength)


PRECISIONS = ("auto", "float32", "bfloat16")


def prepare_for_inference(
    network: nn.Module, device: torch.device, precision: str = "auto"
) -> torch.dtype:
    """Move ``network`` to ``device`` in eval mode and the precision asked for; returns its dtype.

    bfloat16 (where the device computes it natively, or when asked for) means bf16 weights and
    activations in the channels-last layout, except ``hyper_parameters.FLOAT32_PARTS`` (the
    style subnet's RGB- and L-Blocks), whose rounding every later level amplifies. The photo
    stays float32 too (``Stylizer._photo_tensor``).
    """
    low = precision == "bfloat16" or (precision == "auto" and mixed_precision_supported(device))
    dtype = torch.bfloat16 if low else torch.float32
    network.to(device, dtype).eval()
    if low or channels_last_pays(network, device):
        network.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        if hasattr(network, "level_subnets"):  # levels run one by one, each in its own dtype
            for part in FLOAT32_PARTS:
                network.get_submodule(part).to(  # type: ignore[call-overload]
                    torch.float32, memory_format=torch.contiguous_format)
    return dtype


#: Long side of the picture on which ``channels_last_pays`` times the two layouts (ours: the
#: three levels at 256, 512 and 640 px, the refine subnet above ``STRIPS_FROM``: ~1 s).
LAYOUT_PROBE_SIZE = 640


def channels_last_pays(network: nn.Module, device: torch.device) -> bool:
    """Whether ``network`` in float32 paints faster with channels-last activations on this
    machine: measured once per architecture (painting a LAYOUT_PROBE_SIZE picture in each
    layout) and cached (``kernel_choice``). On a 2-core AVX2 EPYC it was 1.5x faster at
    1024 px; bfloat16 always runs channels-last (its norm and convolution kernels need it)."""
    config = getattr(network, "config", None)
    signature = json.dumps(config.to_dict() if config is not None else type(network).__name__,
                           sort_keys=True)
    question = f"layout/{device.type}/float32/{type(network).__name__}/{signature}"
    def paint(layout: torch.memory_format) -> Callable[[], object]:
        probe = probe_image(3, LAYOUT_PROBE_SIZE * 3 // 4, LAYOUT_PROBE_SIZE, device)

        def run() -> object:
            network.to(memory_format=layout)  # type: ignore[call-overload]
            with torch.inference_mode():  # painted as load_model paints: fused
                return stylize_tensor(fuse(network), probe, LAYOUT_PROBE_SIZE)
        return run

    answer = choose(question, lambda: {"contiguous": paint(torch.contiguous_format),
                                       "channels_last": paint(torch.channels_last)})
    network.to(memory_format=torch.contiguous_format)  # type: ignore[call-overload]
    return answer == "channels_last"


def load_model(
    name_or_path: str | Path, device: str = "auto", precision: str = "auto", *,
    mix: str = "auto", width: str = "slim",
) -> Stylizer:
    """Load a built-in style by name or a model file by path; never unpickles anything.

    ``precision="auto"`` runs mostly in bfloat16 where the device computes it natively
    (AVX-512 BF16 / AMX CPUs, recent GPUs; see ``prepare_for_inference``): faster than
    float32, and above 50 dB PSNR against it on the 20 held-back photos (both measured in
    docs/performance.md). Elsewhere, and with "float32", it runs in float32.

    A mix of styles, ``"starry-night:0.6,mine.safetensors:0.4"``, loads as one model (``load_mix``;
    ``mix`` says how it is blended: ``mixing.MIX_MODES``).

    ``width``: a built-in style paints with its slim network by default (distilled from the
    full-width one, a quarter of the arithmetic); "full" loads the full-width network.
    """
    if precision not in PRECISIONS:
        raise BrushworkError(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}")
    parts = parse_mix(name_or_path) if isinstance(name_or_path, str) else None
    if parts is not None:
        return load_mix(parts, device, precision, mode=mix, width=width)
    path = resolve_model_path(name_or_path, width)
    tensors, metadata = read_model_file(path)
    return _stylizer(tensors, metadata, path, resolve_device(device), precision)


def _display_name(path: Path) -> str:
    """A built-in style's name, else the file's path."""
    return path.stem if path.parent in (STYLES_DIR, FULL_DIR) else str(path)


def _stylizer(tensors: dict[str, torch.Tensor], metadata: dict[str, Any], path: Path | str,
              device: torch.device, precision: str, name: str | None = None) -> Stylizer:
    network = network_from_file(tensors, metadata, str(path))  # bounded before it is built
    dtype = prepare_for_inference(network, device, precision)
    return Stylizer(network, metadata, name or _display_name(Path(path)), device, dtype)


def load_mix(
    parts: Sequence[MixPart] | Sequence[tuple[str | Path, float]], device: str = "auto",
    precision: str = "auto", mode: str = "auto", width: str = "slim",
) -> Stylizer:
    """One model painting a blend of styles (``brushwork.mixing``): the weighted mean of the
    networks' weights where they share a lineage (``mode`` "auto" or "weights"), else of their
    paintings ("outputs"). ``parts``: (style or model file, weight) pairs; weights are
    relative."""
    if mode not in MIX_MODES:
        raise BrushworkError(f"unknown mix mode {mode!r}; use one of {', '.join(MIX_MODES)}")
    if all(isinstance(p, MixPart) for p in parts):
        parts = list(cast(Sequence[MixPart], parts))
    else:
        pairs = cast(Sequence[tuple[str | Path, float]], parts)
        parts = normalise([(source, float(weight)) for source, weight in pairs])
    paths = [resolve_model_path(part.source, width) for part in parts]
    files = [read_model_file(path) for path in paths]
    label = mix_label(parts, [_display_name(path) for path in paths])
    shares = [part.weight for part in parts]
    record = [{"style": _display_name(path), "weight": round(w, 6)}
              for path, w in zip(paths, shares)]
    dev = resolve_device(device)
    if len(parts) == 1:
        return _stylizer(*files[0], paths[0], dev, precision)
    same_lineage = can_mix_weights([metadata for _, metadata in files])
    if mode == "weights" and not same_lineage:
        raise BrushworkError(
            f"{label}: these networks did not start from the same weights (no common "
            "--init-from), so their weights cannot be mixed; use mix mode 'outputs'")
    if mode != "outputs" and same_lineage:
        tensors = mix_weights([tensors for tensors, _ in files], shares)
        metadata = {**files[0][1], "mix": record, "mix_mode": "weights"}
        return _stylizer(tensors, metadata, label, dev, precision, name=label)
    members = [_stylizer(*file, path, dev, precision) for file, path in zip(files, paths)]
    metadata = {"architecture": files[0][1].get("architecture"), "mix": record,
                "mix_mode": "outputs"}
    return BlendedStylizer(members[0].network, metadata, label, dev, members[0].dtype,
                           members[0].inference, members=members, shares=shares)


@dataclass
class BlendedStylizer(Stylizer):
    """Styles mixed by their outputs: each member paints, the paintings are averaged level by
    level, then colour and strength are applied once to the blend."""

    members: list[Stylizer] = field(default_factory=list)
    shares: list[float] = field(default_factory=list)

    @property
    def parameter_count(self) -> int:
        return sum(member.parameter_count for member in self.members)

    def stylize_levels(
        self, image: Image.Image, size: int = 1024, max_memory: int | str | None = None, *,
        preserve_color: bool = False, strength: float = 1.0,
        on_level: LevelCallback | None = None, coarse: int | None = None,
    ) -> list[Image.Image]:
        strength = check_strength(strength)
        runs = []
        for i, member in enumerate(self.members):
            def report(k: int, n: int, i: int = i) -> None:
                if on_level is not None:
                    on_level(i * n + k, len(self.members) * n)
            runs.append(member.stylize_levels(image, size, max_memory, on_level=report,
                                              coarse=coarse))
        return [adjust(_blend(levels, self.shares), image, preserve_color=preserve_color,
                       strength=strength) for levels in zip(*runs)]

    def preview(
        self, image: Image.Image, size: int = PREVIEW_SIZE, *, preserve_color: bool = False,
        strength: float = 1.0,
    ) -> Image.Image:
        strength = check_strength(strength)
        blend = _blend([member.preview(image, size) for member in self.members], self.shares)
        return adjust(blend, image, preserve_color=preserve_color, strength=strength)


def _blend(images: Sequence[Image.Image], shares: Sequence[float]) -> Image.Image:
    """The weighted mean of same-size images."""
    mean = cast(torch.Tensor, sum(w * to_tensor(im) for im, w in zip(images, shares)))
    return to_image(mean)


def stylize(
    image: Image.Image, style: str | Path, size: int = 1024, *, preserve_color: bool = False,
    strength: float = 1.0,
) -> Image.Image:
    """One-shot convenience: load ``style`` and paint ``image`` (loads the model every call:
    for many photos, ``load_model`` once and call ``Stylizer.stylize``)."""
    return load_model(style).stylize(image, size, preserve_color=preserve_color,
                                     strength=strength)
