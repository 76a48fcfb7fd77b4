"""The paper's baselines (section 4) are the networks it describes, checked on tiny versions."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from brushwork.hyper_parameters import (
    NetworkConfig,
    SingularConfig,
    TextureNetConfig,
)
from brushwork.networks import ARCHITECTURES, build_network
from brushwork.networks.baselines import DeepSingularNet, JohnsonNet, SingularNet, TextureNet
from brushwork.networks.multimodal import MTNet, parameter_count
from tests.helpers import TINY, TINY_MT

BASELINES = [name for name in ARCHITECTURES if name != "mtnet"]


def record_inputs(module: nn.Module) -> list[torch.Tensor]:
    seen: list[torch.Tensor] = []
    module.register_forward_pre_hook(lambda _module, args: seen.append(args[0].detach().clone()))
    return seen


def tiny(name: str) -> nn.Module:
    network_class, _ = ARCHITECTURES[name]
    return network_class(TINY[name]).eval()


@pytest.mark.parametrize("name", BASELINES)
def test_one_output_with_the_input_size_at_non_square_sizes(name):
    net = tiny(name)
    with torch.no_grad():
        outputs = net(torch.rand(1, 3, 48, 32))
    assert isinstance(outputs, list) and len(outputs) == 1
    assert outputs[0].shape == (1, 3, 48, 32)


@pytest.mark.parametrize("name", BASELINES)
def test_a_single_level_at_the_full_size(name):
    network_class, _ = ARCHITECTURES[name]
    assert network_class.training_sizes(256) == [(256, 256)]
    with torch.no_grad():
        (y,) = tiny(name)(torch.rand(1, 3, 48, 32), [(32, 16)])
    assert y.shape[-2:] == (32, 16)  # sizes[0] is the working size, as for MT-Net's levels


@pytest.mark.parametrize("name", BASELINES)
def test_sizes_that_do_not_halve_exactly_are_refused(name):
    with pytest.raises(ValueError, match="multiples"):
        tiny(name)(torch.rand(1, 3, 30, 32))


def test_a_single_level_network_refuses_mtnets_three_sizes():
    with pytest.raises(ValueError, match="one level"):
        tiny("johnson")(torch.rand(1, 3, 32, 32), MTNet.training_sizes(32))


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_build_network_round_trips_every_architecture(name):
    config = TINY[name]
    net = build_network(name, config.to_dict())
    assert type(net) is ARCHITECTURES[name][0]
    assert net.config == config
    assert type(config).from_dict(config.to_dict()) == config


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_reflection_padding_everywhere(name):
    net = tiny(name)
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert convs and all(conv.padding == (0, 0) for conv in convs)
    assert any(isinstance(m, nn.ReflectionPad2d) for m in net.modules())
    assert not any(isinstance(m, nn.ConvTranspose2d) for m in net.modules())


def test_johnson_net_has_johnson_et_als_layers_and_size():
    net = JohnsonNet()
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert convs[0].kernel_size == convs[-1].kernel_size == (9, 9)
    assert [c.out_channels for c in convs if c.stride == (2, 2)] == [64, 128]
    residual = sum(1 for m in net.modules() if type(m).__name__ == "ResidualBlock")
    assert residual == 5
    upsampling = [m for m in net.modules() if isinstance(m, nn.Upsample)]
    assert len(upsampling) == 2
    # pytorch/examples' TransformerNet (the same layers) has 1,679,235 parameters.
    assert parameter_count(net) == pytest.approx(1.68e6, rel=0.03)


def test_texture_net_sees_the_image_at_every_scale():
    net = TextureNet(TextureNetConfig(scales=4, width=2)).eval()
    seen = [record_inputs(branch) for branch in net.branches]
    photo = torch.rand(1, 3, 64, 48)
    with torch.no_grad():
        net(photo)
    assert [s[0].shape[-2:] for s in seen] == [(8, 6), (16, 12), (32, 24), (64, 48)]
    torch.testing.assert_close(seen[0][0], nn.functional.avg_pool2d(photo, 8))
    torch.testing.assert_close(seen[-1][0], photo)


def test_texture_net_widths_grow_by_one_branch_per_join():
    net = TextureNet()  # Ulyanov et al.: 8 channels per scale, 8 up to 40 after five scales
    assert [join.block[0][1].in_channels for join in net.joins] == [16, 24, 32, 40]
    assert net.output[1].in_channels == 40 and net.output[1].kernel_size == (1, 1)


def test_singular_net_is_the_style_subnet_alone():
    mt = MTNet(TINY_MT).eval()
    singular = build_network("singular", TINY_MT.to_dict()).eval()  # same field names
    # MT-Net's style subnet weights load under the same names.
    singular.load_state_dict({k: v for k, v in mt.state_dict().items() if k.startswith("style.")})
    photo = torch.rand(1, 3, 32, 48)
    with torch.no_grad():
        torch.testing.assert_close(singular(photo)[0], mt.style(photo))


def test_the_same_parameter_singular_net_matches_mtnet_within_5_percent():
    mt = parameter_count(MTNet())
    same = parameter_count(SingularNet(SingularConfig.matching_mtnet()))
    assert same == pytest.approx(mt, rel=0.05)
    assert parameter_count(SingularNet()) < 0.5 * mt  # Fig. 5's plain style subnet is smaller


@pytest.mark.parametrize("config", [TINY_MT, NetworkConfig()], ids=["tiny", "default"])
def test_ds_net_has_mtnets_parameters(config):
    ds, mt = DeepSingularNet(config), MTNet(config)
    assert parameter_count(ds) == parameter_count(mt)
    assert ds.state_dict().keys() == mt.state_dict().keys()


def test_ds_net_runs_every_subnet_at_full_resolution():
    net = DeepSingularNet(TINY_MT).eval()
    inputs = [record_inputs(subnet) for subnet in net.subnets]
    photo = torch.rand(1, 3, 64, 48)
    with torch.no_grad():
        outputs = net(photo)
    assert [seen[0].shape[-2:] for seen in inputs] == [(64, 48)] * 3
    torch.testing.assert_close(inputs[0][0], photo)  # no bilinear resize before the style subnet
    assert len(outputs) == 1  # one loss, on the final output only
    with torch.no_grad():
        torch.testing.assert_close(outputs[0], net.refine(inputs[2][0]))
