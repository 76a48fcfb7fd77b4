"""A running average of a network's weights (Polyak averaging), for ``TrainConfig.average_decay``.

Why: a fine-tuning at a constant learning rate does not settle on one network; it wanders
around one, and which network the last iteration happens to hold decides the model file. The
average of the recent weights is the middle of that wander (docs/styles/own-painting.md has
the measurement). The average lives beside the network (float32, on the network's device),
is checkpointed with it so that a resumed run goes on exactly, and is swapped into the
network (``applied``) wherever the trained model is looked at: previews, the plateau check,
the model file.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


class WeightAverage:
    """average = decay * average + (1 - decay) * weights, after each optimiser step."""

    def __init__(self, network: torch.nn.Module, decay: float,
                 state: dict[str, torch.Tensor] | None = None) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"average decay {decay} is not between 0 and 1")
        self.decay = decay
        weights = network.state_dict()
        if state:  # a resumed run: the average it had
            self.average = {k: state[k].to(weights[k].device, torch.float32) for k in weights
                            if weights[k].is_floating_point()}
        else:  # a new run starts from its first weights (the fine-tuned model's, say)
            self.average = {k: v.detach().to(torch.float32).clone() for k, v in weights.items()
                            if v.is_floating_point()}

    @torch.no_grad()
    def update(self, network: torch.nn.Module) -> None:
        weights = network.state_dict()
        for name, average in self.average.items():
            average.lerp_(weights[name].to(torch.float32), 1.0 - self.decay)

    @contextmanager
    def applied(self, network: torch.nn.Module) -> Iterator[torch.nn.Module]:
        """``network`` with the averaged weights for the block, its own weights after."""
        own = {k: v.detach().clone() for k, v in network.state_dict().items()}
        network.load_state_dict(self.average, strict=False)
        try:
            yield network
        finally:
            network.load_state_dict(own)
