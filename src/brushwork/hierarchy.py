"""Hierarchical stylisation at test time (paper 3.1): any size, any aspect ratio.

The levels run at the sizes ``levels.plan_levels`` gives (its docstring: the schedule and
why). Each level's input is reflect-padded on the bottom and right to what its stride-2
layers need and its output cropped back (``paint_level``), so the output is never squashed
and never drifts from the requested size.

With a memory budget, each level's subnet runs within what is left of the budget, in tiles
where it must (``tiling``): at 4096 the last refine pass works on 16.8 megapixels. The style
subnet always sees the whole photo (a tiled first level would lose the hierarchy's coarse
view), and the tiled result equals the untiled one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from .hyper_parameters import COARSE_SIZE, SIZE_MULTIPLE
from .levels import TRAINED_LEVELS, check_coarse, check_size, plan_levels, scaled_size
from .networks.multimodal import MTNet, like_parameters, resize
from .tiling import TiledRunner, memory_budget

#: Sides of a network without a declared ``size_multiple`` are padded to a multiple of this.
FULL_SIZE_MULTIPLE = 4 * SIZE_MULTIPLE


def pad_to_multiple(image: torch.Tensor, multiple: int) -> torch.Tensor:
    """Pad bottom and right to a multiple of ``multiple``, and to at least twice it.

    Twice the multiple leaves every stride-2 stage at least 2 px, so the reflection padding
    inside the network (which needs a side larger than the pad) works for tiny outputs too.
    """
    h, w = image.shape[-2:]
    smallest = max(2 * multiple, 8)  # 8: room for the 9x9 input convolutions' padding of 4
    bottom = max(-h % multiple, smallest - h)
    right = max(-w % multiple, smallest - w)
    if not bottom and not right:
        return image
    # Reflection needs the pad to be smaller than the side; tiny images fall back to replicate.
    mode = "reflect" if bottom < h and right < w else "replicate"
    return F.pad(image, (0, right, 0, bottom), mode=mode)


def stylize_tensor(
    net: nn.Module, photo: torch.Tensor, size: int, max_memory: int | str | None = None,
    coarse: int = COARSE_SIZE, on_level: Callable[[int, int], None] | None = None,
) -> list[torch.Tensor]:
    """Run the hierarchy on a (1, 3, h, w) photo in [0, 1]; return every level, coarse first.

    ``max_memory`` (bytes, or a text like '1.5GB') bounds the tensors alive at once, the
    photo included; None runs each subnet whole, as training previews do. A single-level
    network (the paper's baselines) runs once at the full size. Outputs are unclamped
    network values; ``images.to_image`` clamps when saving. ``coarse``: see
    ``levels.level_long_sides`` (``coarse`` = size / 4 gives the paper's size/4, size/2, size).
    ``on_level(k, n)`` is called as level k of n is done.

    ``net`` is run as given: painting passes the network ``fuse`` built for inference (the
    same function, faster layers: networks/fused.py), training previews the modules.
    """
    check_size(size)
    check_coarse(coarse)
    h, w = photo.shape[-2:]
    hierarchical = hasattr(net, "level_subnets")
    visible = plan_levels(h, w, size, coarse) if hierarchical else [scaled_size(h, w, size)]
    modules = (cast(MTNet, net).level_subnets(len(visible)) if hierarchical
               else [_LastLevel(net)])
    runner = None
    if max_memory is not None:
        runner = TiledRunner(memory_budget(max_memory, photo.device))
    outputs: list[torch.Tensor] = []
    previous = photo
    for level, (module, (vh, vw)) in enumerate(zip(modules, visible)):
        extra_pass = hierarchical and level >= TRAINED_LEVELS
        held = photo.nbytes + sum(o.nbytes for o in outputs)
        previous = paint_level(module, previous, (vh, vw), runner, held, keep_colour=extra_pass)
        outputs.append(previous)
        if on_level is not None:
            on_level(level + 1, len(visible))
    return outputs


def paint_level(
    module: nn.Module, previous: torch.Tensor, visible: tuple[int, int],
    runner: TiledRunner | None = None, held: int = 0, keep_colour: bool = False,
) -> torch.Tensor:
    """One level: ``previous`` resized to ``visible`` (a ``plan_levels`` size), padded to
    ``module``'s ``size_multiple``, painted (in tiles by ``runner`` where given; ``held``:
    bytes alive elsewhere) and cropped back to ``visible``. ``keep_colour`` (refine passes
    beyond the trained levels) shifts the output back to its input's mean colour."""
    vh, vw = visible
    source = resize(previous, (vh, vw))
    source_mean = _channel_means(source) if keep_colour else None
    x = pad_to_multiple(source, getattr(module, "size_multiple", 1))
    del source
    x = like_parameters(x, module)  # levels may differ in precision and layout
    if runner is None:
        y = module(x)
    else:
        with torch.no_grad():
            y = runner.run(module, x, held)
    del x
    painted = y[..., :vh, :vw]
    if source_mean is not None:
        painted = _keep_colour(painted, source_mean)
    return painted


def _channel_means(image: torch.Tensor) -> torch.Tensor:
    """Per-channel mean of (N, C, H, W) in float32, shaped to broadcast: (N, C, 1, 1)."""
    return image.float().mean(dim=(-2, -1), keepdim=True)


def _keep_colour(output: torch.Tensor, source_mean: torch.Tensor) -> torch.Tensor:
    """Shift an extra refine pass's output back to its input's mean colour, in place.

    The refine subnet was trained once, on the enhance subnet's output, and learned to lift
    that darker picture towards the artwork's palette; run again on its own output (beyond
    1024 px) it lifts again, and the picture turned paler and yellower with every pass (mean
    RGB 89, 116, 129 at 1024 -> 149, 164, 162 at 4096). A pass beyond the trained ones is
    there to add brushwork at a finer pixel scale, not to change the palette, so its mean
    colour is reset to its input's. One global shift over the whole image (never per tile),
    so tiled and untiled results stay equal; contrast and texture are untouched.
    """
    shift = (_channel_means(output) - source_mean).to(output.dtype)
    return output.sub_(shift)


class _LastLevel(nn.Module):
    """A network that is not a hierarchy of subnets, as one module giving its final output."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        self.size_multiple = getattr(net, "size_multiple", FULL_SIZE_MULTIPLE)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)[-1]
