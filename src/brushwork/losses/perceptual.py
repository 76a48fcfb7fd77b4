"""Content, texture and hierarchical stylisation losses (paper 3.2, Eq. 2-7).

Pure functions of feature maps, plus ``HierarchicalLoss``, which owns the loss network and the
style targets. The style Gram matrices are computed once, when the loss is built, not every
iteration: the artwork never changes during training.

Eq. 8/9 of the paper (each subnet is updated by the losses at its level and after it) is plain
autograd on L_H: nothing here detaches an output, so the gradient of level i's loss reaches every
subnet k <= i. Only the *targets* are constants.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..hyper_parameters import (
    COLOUR_LAYOUT_CELLS,
    CONTENT_LAYER,
    RELATIVE_TEXTURE_UNIT,
    TEXTURE_LAYERS,
    LossConfig,
)
from .colour import chroma, colour_statistics, recolour_batch
from .vgg import VGG19Features


def full_precision(tensor: torch.Tensor) -> contextlib.AbstractContextManager:
    """Autocast switched off on ``tensor``'s device, so what runs inside stays float32.

    Under bf16 autocast ``torch.bmm`` re-casts its inputs to bf16 even after ``.float()``, so
    a Gram "in float32" would be summed in bf16, with errors the size of the differences the
    loss must resolve near its targets (measured in docs/architecture.md, "The loss").
    """
    return torch.autocast(device_type=tensor.device.type, enabled=False)


def gram(features: torch.Tensor) -> torch.Tensor:
    """Gram matrix of (N, C, H, W) features, normalised by C*H*W (Eq. 3), in float32.

    The normalisation makes the texture loss independent of image size, so one texture weight
    serves a 256 and a 1024 px target. float32 because bf16 sums of H*W products lose digits.
    """
    n, c, h, w = features.shape
    with full_precision(features):
        flat = features.reshape(n, c, h * w).float()
        return torch.bmm(flat, flat.transpose(1, 2)) / (c * h * w)


def centred_gram(features: torch.Tensor) -> torch.Tensor:
    """Gram of the features minus their spatial mean: their covariance, normalised as ``gram``.

    Where the plain Gram is dominated by the mean (relu1_1: the mean colour squared), this
    measures the spread around it, i.e. how many colours are painted
    (``LossConfig.centred_layers``).
    """
    return gram(features - features.float().mean(dim=(2, 3), keepdim=True))


def content_loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Eq. 2 as a mean squared error between feature maps, in float32."""
    with full_precision(output):
        return F.mse_loss(output.float(), target.float())


def texture_loss(
    output_grams: Sequence[torch.Tensor], target_grams: Sequence[torch.Tensor],
    layer_scales: Sequence[float] | None = None,
) -> torch.Tensor:
    """Eq. 4: sum over layers of the mean squared Gram difference, in float32.

    Each layer's term is multiplied by its ``layer_scales`` entry when given (see
    ``relative_layer_scales``). Target Grams have batch size 1 and broadcast over the batch.
    """
    return summed(texture_terms(output_grams, target_grams, layer_scales), output_grams[0])


def texture_terms(
    output_grams: Sequence[torch.Tensor], target_grams: Sequence[torch.Tensor],
    layer_scales: Sequence[float] | None = None,
) -> list[torch.Tensor]:
    """The terms ``texture_loss`` adds up, one per Gram, in order, each in float32."""
    scales = layer_scales or [1.0] * len(target_grams)
    with full_precision(output_grams[0]):
        return [scale * F.mse_loss(out.float(), target.float().expand_as(out))
                for out, target, scale in zip(output_grams, target_grams, scales)]


def summed(terms: Sequence[torch.Tensor], like: torch.Tensor) -> torch.Tensor:
    """A float32 scalar on ``like``'s device: 0 plus each term in turn (float addition is not
    associative: the optimised loss is always summed in this one order)."""
    total = like.new_zeros((), dtype=torch.float32)
    for term in terms:
        total = total + term
    return total


def relative_layer_scales(target_grams: Sequence[torch.Tensor]) -> list[float]:
    """Per-layer multipliers that turn each layer's Gram error into a relative one.

    ``RELATIVE_TEXTURE_UNIT / mean(target**2)``: every layer then counts by how far its Gram
    is from the painting's *in proportion to that Gram*. Summed raw, the layers differ by three
    orders of magnitude on 0-255 Caffe-convention VGG features (Starry Night at 256 px: mean
    squared Gram 539 at relu1_1, 9.5e5 at relu4_1), so relu4_1 was ~97% of the texture loss
    and relu1_1, the layer that carries colour, 0.03%: networks matched the painting's strokes
    but never its palette (docs/training-stall.md, "The missing palette").
    """
    return [RELATIVE_TEXTURE_UNIT / max(float(torch.mean(g.float() ** 2)), 1e-12)
            for g in target_grams]


#: Our terms beside the paper's Eq. 6, each logged under its own name when switched on: the
#: centred Grams of ``LossConfig.centred_layers``, ``LossConfig.coarse_agreement`` and
#: ``LossConfig.colour_layout``. Each is weighted like the texture term (beta_k, the warm-up).
EXTRA_TERMS = ("palette", "agreement", "colour_layout")


@dataclass
class LevelLoss:
    """One level's terms, already weighted by alpha / beta and the warm-up (not by lambda).

    ``content`` is the paper's Eq. 2 and ``texture`` its Eq. 4 over ``TEXTURE_LAYERS`` alone;
    each of ``EXTRA_TERMS`` is None where it is off. ``total`` is what the level adds to L_H
    (before lambda_k): all of them, summed as the loss has always been optimised, so it equals
    the sum of the terms up to float rounding, not always to the last bit.
    """

    content: torch.Tensor
    texture: torch.Tensor
    total: torch.Tensor
    palette: torch.Tensor | None = None
    agreement: torch.Tensor | None = None
    colour_layout: torch.Tensor | None = None

    def extra_terms(self) -> dict[str, torch.Tensor]:
        """The terms of ``EXTRA_TERMS`` that are on at this level, by name."""
        return {name: term for name in EXTRA_TERMS
                if (term := getattr(self, name)) is not None}


def resize_long_side(image: torch.Tensor, long_side: int) -> torch.Tensor:
    """Resize (N, 3, H, W) so its long side is ``long_side``, keeping the aspect ratio."""
    h, w = image.shape[-2:]
    scale = long_side / max(h, w)
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    return F.interpolate(image, size=size, mode="bilinear", align_corners=False,
                         antialias=scale < 1)


class HierarchicalLoss(nn.Module):
    """L_H = sum_k lambda_k (alpha_k L_content^k + beta_k L_text^k) (Eq. 6-7).

    ``styles`` holds one artwork per level (the same one three times for a single-style
    model, different ones for the paper's Fig. 7 combination). Each is scaled so its long side
    is that level's style size (256, 512, 1024 by default) before its Grams are taken, but
    never above its own size unless ``config.style_upscale``: an upscaled painting is a
    blurred one, and the level would learn the blur.
    """

    def __init__(
        self, vgg: VGG19Features, styles: Sequence[torch.Tensor], config: LossConfig
    ) -> None:
        super().__init__()
        if len(styles) != len(config.style_sizes):
            raise ValueError("one style image per level is needed")
        self.vgg = vgg
        self.config = config
        self.target_grams: list[list[torch.Tensor]] = []
        unknown = set(config.centred_layers) - set(TEXTURE_LAYERS)
        if unknown:
            raise ValueError(f"centred layers must be texture layers {TEXTURE_LAYERS}, not "
                             f"{sorted(unknown)}")
        with torch.no_grad():
            for style, size in zip(styles, config.style_sizes):
                if not config.style_upscale:
                    size = min(size, max(style.shape[-2:]))
                features = vgg(resize_long_side(style.float(), size))
                self.target_grams.append(self._grams(features))
        if config.texture_normalisation not in ("relative", "none"):
            raise ValueError(f"texture normalisation must be 'relative' or 'none', not "
                             f"{config.texture_normalisation!r}")
        #: Per level, each texture layer's multiplier (LossConfig.texture_normalisation).
        self.layer_scales: list[list[float] | None] = [
            relative_layer_scales(grams) if config.texture_normalisation == "relative" else None
            for grams in self.target_grams]
        #: The coarse painting's colour mean, covariance and chroma variance
        #: (``LossConfig.colour_layout``).
        pixels = styles[0][0].float().flatten(1).T
        self.palette_mean, self.palette_cov = colour_statistics(pixels)
        self.palette_chroma_var = max(float(chroma(styles[0][:1].float()).flatten(2)
                                            .var(dim=2).sum()), 1e-6)

    def to(self, *args, **kwargs):
        module = super().to(*args, **kwargs)
        device = next(self.vgg.parameters()).device
        self.target_grams = [[g.to(device) for g in level] for level in self.target_grams]
        self.palette_mean = self.palette_mean.to(device)
        self.palette_cov = self.palette_cov.to(device)
        return module

    def content_features(self, image: torch.Tensor) -> torch.Tensor:
        """Content-layer features of a target image; a constant, so no graph is kept."""
        with torch.no_grad():
            return self.vgg(image)[CONTENT_LAYER]

    def forward(
        self, outputs: Sequence[torch.Tensor], content_inputs: Sequence[torch.Tensor],
        texture_scale: float = 1.0,
    ) -> tuple[torch.Tensor, list[LevelLoss]]:
        """Loss of every level's output against its content input and its style target.

        ``content_inputs[k]`` is the content target image of level k (the input of the subnet
        that produced ``outputs[k]``, or the photo; see ``LossConfig.content_target``). When
        it is the very tensor of the previous output, that output's features are reused.
        ``texture_scale`` multiplies every texture weight (``TrainConfig.texture_warmup``).
        """
        cfg = self.config
        output_features = self._batched_features(outputs)
        levels: list[LevelLoss] = []
        total = outputs[0].new_zeros((), dtype=torch.float32)
        computed: dict[int, torch.Tensor] = {}  # target tensor id -> its content features
        layout = (self._colour_layout_target(content_inputs[0]) if cfg.colour_layout
                  else None)
        for k, (features, target) in enumerate(zip(output_features, content_inputs)):
            if k > 0 and target is outputs[k - 1]:
                target_features = output_features[k - 1][CONTENT_LAYER].detach()
            else:
                if id(target) not in computed:
                    computed[id(target)] = self.content_features(target.detach())
                target_features = computed[id(target)]
            content = cfg.content_weights[k] * content_loss(features[CONTENT_LAYER],
                                                            target_features)
            # What is optimised is summed in one fixed order, the one every model so far was
            # trained with (a resumed run goes on bit for bit): Eq. 4's Grams and the
            # palette's centred Grams in one sum, then the agreement, then the colour layout.
            # Each term is also summed on its own, for the log.
            terms = texture_terms(self._grams(features), self.target_grams[k],
                                  self.layer_scales[k])
            weight = texture_scale * cfg.texture_weights[k]
            stylisation = weight * summed(terms, features[CONTENT_LAYER])
            plain = len(TEXTURE_LAYERS)
            texture, palette = stylisation, None
            if cfg.centred_layers:
                texture = weight * summed(terms[:plain], stylisation)
                palette = weight * summed(terms[plain:], stylisation)
            agreement = colour_layout = None
            if cfg.coarse_agreement and k > 0 and outputs[k].requires_grad:
                agreement = texture_scale * self._agreement(outputs, k)
                stylisation = stylisation + agreement
            if layout is not None:
                colour_layout = texture_scale * self._colour_layout(outputs[k], layout)
                stylisation = stylisation + colour_layout
            level = LevelLoss(content, texture, content + stylisation, palette, agreement,
                              colour_layout)
            levels.append(level)
            total = total + cfg.level_weights[k] * level.total
        return total, levels

    def _agreement(self, outputs: Sequence[torch.Tensor], k: int) -> torch.Tensor:
        """``LossConfig.coarse_agreement``: level k's output seen at each coarser level's size
        (antialiased, as a viewer's downscale), scored against that level's style target."""
        cfg = self.config
        total = outputs[k].new_zeros((), dtype=torch.float32)
        for j in range(k):
            with full_precision(outputs[k]):  # no bf16 antialiased resize on CPU
                seen = F.interpolate(outputs[k].float(), size=outputs[j].shape[-2:],
                                     mode="bilinear", align_corners=False, antialias=True)
            grams = self._grams(self.vgg(seen))
            total = total + (cfg.coarse_agreement * cfg.texture_weights[j]
                             * texture_loss(grams, self.target_grams[j], self.layer_scales[j]))
        return total

    def _colour_layout_target(self, photo: torch.Tensor) -> torch.Tensor:
        """The photo recoloured to the painting's palette, its chroma averaged per cell."""
        with torch.no_grad(), full_precision(photo):
            return coarse_cells(chroma(recolour_batch(photo.float(), self.palette_mean,
                                                self.palette_cov)))

    def _colour_layout(self, output: torch.Tensor, target_cells: torch.Tensor) -> torch.Tensor:
        """``LossConfig.colour_layout``: how far the output's coarse chroma lies from the
        recoloured photo's, relative to the painting's chroma variance."""
        with full_precision(output):
            cells = coarse_cells(chroma(output.float()), grid=target_cells.shape[-2:])
            error = F.mse_loss(cells, target_cells.expand_as(cells))
        return self.config.colour_layout * RELATIVE_TEXTURE_UNIT * error / self.palette_chroma_var

    def _grams(self, features: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        """The Grams the texture term compares: every texture layer's, then the centred
        Gram of each ``centred_layers`` entry."""
        return ([gram(features[layer]) for layer in TEXTURE_LAYERS]
                + [centred_gram(features[layer]) for layer in self.config.centred_layers])

    def _batched_features(self, outputs: Sequence[torch.Tensor]) -> list[dict]:
        """VGG features of every output, running same-sized outputs as one batch."""
        results: list[dict | None] = [None] * len(outputs)
        groups: dict[tuple[int, ...], list[int]] = {}
        for k, out in enumerate(outputs):
            groups.setdefault(tuple(out.shape[-2:]), []).append(k)
        for members in groups.values():
            batch = torch.cat([outputs[k] for k in members]) if len(members) > 1 else outputs[
                members[0]]
            features = self.vgg(batch)
            n = outputs[members[0]].shape[0]
            for i, k in enumerate(members):
                results[k] = {name: f[i * n:(i + 1) * n] for name, f in features.items()}
        return results  # type: ignore[return-value]



def coarse_cells(image: torch.Tensor, cells: int = COLOUR_LAYOUT_CELLS,
                 grid: tuple[int, int] | torch.Size | None = None) -> torch.Tensor:
    """``image`` averaged over a grid of ``cells`` cells along its long side (or over
    ``grid``), so that images of any size are compared on the same cells."""
    if grid is None:
        h, w = image.shape[-2:]
        scale = cells / max(h, w)
        grid = (max(1, round(h * scale)), max(1, round(w * scale)))
    return F.adaptive_avg_pool2d(image, (grid[0], grid[1]))


def content_targets(
    photo: torch.Tensor, outputs: list[torch.Tensor], sizes: list, mode: str
) -> list[torch.Tensor]:
    """The content target image per level: the photo at each level's size (``"photo"``), or each
    subnet's input (``"input"``, the paper's wording; ``LossConfig.content_target``)."""
    from ..networks.multimodal import resize

    if mode == "photo":
        # One tensor per distinct size, so the loss computes each target's features once
        # (levels 2 and 3 are both at the crop size in training).
        by_size: dict = {}
        for size in sizes:
            if tuple(size) not in by_size:
                by_size[tuple(size)] = resize(photo, size)
        return [by_size[tuple(size)] for size in sizes]
    if mode != "input":
        raise ValueError(f"content target must be 'input' or 'photo', not {mode!r}")
    previous = [photo, *outputs[:-1]]
    return [resize(image, size) for image, size in zip(previous, sizes)]
