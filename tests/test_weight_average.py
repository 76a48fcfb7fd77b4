"""The weight average a training run can write (``TrainConfig.average_decay``): the running
average itself, swapped in and out of the network, and what the trainer does with it."""

from __future__ import annotations

import pytest
import torch

from brushwork.checkpoints import average_state, load_checkpoint, network_state
from brushwork.model_files import read_model_file
from brushwork.weight_average import WeightAverage
from tests.test_training import run


def test_the_average_is_the_exponential_moving_average_of_the_weights() -> None:
    net = torch.nn.Linear(2, 1)
    with torch.no_grad():
        net.weight.fill_(0.0)
        net.bias.fill_(4.0)
    average = WeightAverage(net, decay=0.5)
    for value in (2.0, 6.0):
        with torch.no_grad():
            net.weight.fill_(value)
        average.update(net)
    # 0 -> 0.5 * 0 + 0.5 * 2 = 1 -> 0.5 * 1 + 0.5 * 6 = 3.5; the bias never moved.
    assert torch.equal(average.average["weight"], torch.full((1, 2), 3.5))
    assert torch.equal(average.average["bias"], torch.full((1,), 4.0))


def test_applied_swaps_the_average_in_and_the_weights_back() -> None:
    net = torch.nn.Linear(2, 1)
    average = WeightAverage(net, decay=0.9)
    with torch.no_grad():
        net.weight.add_(1.0)
    own = net.weight.detach().clone()
    with average.applied(net) as looked_at:
        assert torch.allclose(looked_at.weight, own - 1.0)
    assert torch.equal(net.weight, own)


@pytest.mark.parametrize("decay", [0.0, 1.0, -0.5])
def test_a_decay_outside_zero_to_one_is_refused(decay: float) -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        WeightAverage(torch.nn.Linear(1, 1), decay)


def test_a_run_writes_the_average_and_resumes_it_exactly(style, photos, tmp_path) -> None:
    """With ``average_decay`` the model file holds the weight average (not the last
    iteration's weights), and a run interrupted and resumed writes the same average as one
    that ran straight through."""
    straight = tmp_path / "straight.safetensors"
    run(style, photos, straight, iterations=4, average_decay=0.5)
    run(style, photos, tmp_path / "split.safetensors", iterations=2, average_decay=0.5)
    run(style, photos, tmp_path / "split.safetensors", iterations=4, average_decay=0.5,
        resume=True)
    tensors, _, _ = load_checkpoint(tmp_path / "straight.run")
    average, last = average_state(tensors), network_state(tensors)
    assert average.keys() and average.keys() <= last.keys()
    written = read_model_file(straight)[0]
    moved = [name for name in average if not torch.equal(average[name], last[name])]
    assert moved  # the average is not the last weights...
    for name in average:  # ...and it is what the model file holds (as float16)
        torch.testing.assert_close(written[name].float(), average[name].half().float(),
                                   rtol=0, atol=0, msg=name)
    split = average_state(load_checkpoint(tmp_path / "split.run")[0])
    for name in average:
        torch.testing.assert_close(split[name], average[name], rtol=0, atol=0, msg=name)
