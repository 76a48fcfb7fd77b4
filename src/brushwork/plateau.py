"""Stopping a training run when its loss has flattened (``TrainConfig.plateau_every``).

The training loss cannot say this by itself: each iteration scores a different photo, and
which photo came up moves the loss more than 50 iterations of learning do (the recipe's runs
repeat the same ups and downs of content loss whatever the painting). So the run is scored
every ``plateau_every`` iterations on the same fixed crops (``data.centre_crops``), without
gradients, and it stops once ``patience`` checks in a row have not beaten the best loss
before them by ``tolerance``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .devices import autocast
from .losses.perceptual import HierarchicalLoss, content_targets

#: Training photos whose centre crops are the fixed set (ours: four crops cost about one
#: training iteration of forward passes, ~4% of a run checked every 25 iterations).
PLATEAU_PHOTOS = 4


class Plateau:
    """The fixed crops' loss at each check, and whether it has stopped falling."""

    def __init__(self, crops: Sequence[torch.Tensor], every: int, patience: int,
                 tolerance: float, history: Sequence[float] = ()) -> None:
        self.crops = list(crops)
        self.every = every
        self.patience = max(1, patience)
        self.tolerance = tolerance
        self.history = list(history)

    def due(self, iteration: int) -> bool:
        return bool(self.every) and bool(self.crops) and iteration % self.every == 0

    def measure(self, net: torch.nn.Module, criterion: HierarchicalLoss, sizes: list,
                mixed_precision: bool) -> float:
        """The mean total loss over the crops (full texture weights), recorded."""
        device = next(net.parameters()).device
        was_training = net.training
        net.eval()
        total = 0.0
        with torch.no_grad(), autocast(device, mixed_precision):
            for crop in self.crops:
                crop = crop.to(device)
                outputs = net(crop, sizes)
                targets = content_targets(crop, outputs, sizes, criterion.config.content_target)
                total += float(criterion(outputs, targets)[0])
        net.train(was_training)
        value = total / len(self.crops)
        self.history.append(value)
        return value

    def flat(self) -> bool:
        """True once the last ``patience`` checks have not beaten the best before them by
        ``tolerance`` (relative)."""
        if len(self.history) <= self.patience:
            return False
        before = min(self.history[:-self.patience])
        return min(self.history[-self.patience:]) > before * (1 - self.tolerance)
