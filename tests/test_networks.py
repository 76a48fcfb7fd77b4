"""The network does what paper section 3.3 says, checked on a tiny MT-Net."""

from __future__ import annotations

import pytest
import torch

from brushwork.hyper_parameters import NetworkConfig
from brushwork.networks.multimodal import MTNet, luminance, parameter_count

TINY = NetworkConfig.tiny()


def record_inputs(module: torch.nn.Module) -> list[torch.Tensor]:
    seen: list[torch.Tensor] = []
    module.register_forward_pre_hook(lambda _module, args: seen.append(args[0].detach().clone()))
    return seen


def test_default_network_is_close_to_the_papers_35_mb():
    params = parameter_count(MTNet())
    assert 6e6 < params < 9.5e6  # paper: ~35 MB on disk in float32, i.e. ~9M parameters


def test_levels_run_at_quarter_half_and_full_size_at_test_time():
    net = MTNet(TINY).eval()
    style_in, enhance_in, refine_in = (record_inputs(s) for s in net.subnets)
    with torch.no_grad():
        y1, y2, y3 = net(torch.rand(1, 3, 128, 96))
    assert style_in[0].shape[-2:] == (32, 24)
    assert enhance_in[0].shape[-2:] == (64, 48)
    # "1024 output that is really 512" was a bug of public versions: the refine subnet must
    # receive the enhance output upsampled to the full size.
    assert refine_in[0].shape[-2:] == (128, 96)
    assert (y1.shape[-2:], y2.shape[-2:], y3.shape[-2:]) == ((32, 24), (64, 48), (128, 96))


def test_refine_input_is_the_upsampled_enhance_output():
    net = MTNet(TINY).eval()
    refine_in = record_inputs(net.refine)
    with torch.no_grad():
        _, y2, _ = net(torch.rand(1, 3, 64, 64))
    upsampled = torch.nn.functional.interpolate(y2, size=(64, 64), mode="bilinear",
                                                align_corners=False)
    torch.testing.assert_close(refine_in[0], upsampled)


def test_refine_stays_at_the_enhance_size_during_training():
    assert MTNet.training_sizes(512) == [(256, 256), (512, 512), (512, 512)]
    net = MTNet(TINY)
    refine_in = record_inputs(net.refine)
    net(torch.rand(1, 3, 64, 64), MTNet.training_sizes(64))
    assert refine_in[0].shape[-2:] == (64, 64)


def test_refine_has_an_identity_connection():
    net = MTNet(TINY)
    output_conv = net.refine.decoder[-1][1]
    torch.nn.init.zeros_(output_conv.weight)
    torch.nn.init.zeros_(output_conv.bias)
    x = torch.rand(1, 3, 32, 32)
    torch.testing.assert_close(net.refine(x), x)


def test_luminance_branch_sees_bt601_luma_of_the_01_rgb_input():
    net = MTNet(TINY).eval()
    l_in = record_inputs(net.style.l_block)
    rgb_in = record_inputs(net.style.rgb_block)
    with torch.no_grad():
        net(torch.rand(1, 3, 64, 64))
    rgb = rgb_in[0]
    assert rgb.min() >= 0.0 and rgb.max() <= 1.0  # the raw [0, 1] image, not normalised
    expected = 0.299 * rgb[:, 0:1] + 0.587 * rgb[:, 1:2] + 0.114 * rgb[:, 2:3]
    torch.testing.assert_close(l_in[0], expected)


def test_luminance_of_pure_colours():
    pure = torch.eye(3).view(3, 3, 1, 1)
    torch.testing.assert_close(luminance(pure).flatten(), torch.tensor([0.299, 0.587, 0.114]))


def test_enhance_subnet_has_one_more_downsampling_than_style():
    net = MTNet(TINY)
    strided = [
        sum(1 for m in sub.rgb_block.modules()
            if isinstance(m, torch.nn.Conv2d) and m.stride == (2, 2))
        for sub in (net.style, net.enhance)
    ]
    assert strided == [2, 3]


def test_reflection_padding_everywhere():
    for module in MTNet(TINY).modules():
        if isinstance(module, torch.nn.Conv2d):
            assert module.padding == (0, 0)  # padding is done by ReflectionPad2d layers
    pads = [m for m in MTNet(TINY).modules() if isinstance(m, torch.nn.ReflectionPad2d)]
    assert pads


def test_forward_at_its_own_size_needs_sides_that_halve_exactly():
    with pytest.raises(ValueError, match="multiples"):
        MTNet(TINY)(torch.rand(1, 3, 100, 64))


def test_levels_follow_the_paper_at_1024_keep_the_coarse_scale_from_512_and_add_passes_beyond():
    from brushwork.levels import level_long_sides

    assert level_long_sides(1024) == [256, 512, 1024]
    # From 512 to 1024 the style and enhance subnets stay at 256 and 512 (strokes keep
    # their size relative to the picture); below 512, the paper's size/4, size/2, size.
    assert level_long_sides(512) == [256, 512, 512]
    assert level_long_sides(768) == [256, 512, 768]
    assert level_long_sides(511) == [128, 256, 511]
    assert level_long_sides(512, coarse=128) == [128, 256, 512]  # the paper's, by coarse
    assert level_long_sides(2048) == [256, 512, 1024, 2048]
    assert level_long_sides(4096) == [256, 512, 1024, 2048, 4096]
    assert level_long_sides(2048, coarse=512) == [512, 1024, 2048]


def test_beyond_four_times_the_coarse_size_the_refine_subnet_runs_once_per_doubling():
    from brushwork.hierarchy import stylize_tensor

    net = MTNet(TINY).eval()
    style_in, refine_in = record_inputs(net.style), record_inputs(net.refine)
    with torch.no_grad():
        levels = stylize_tensor(net, torch.rand(1, 3, 60, 90), 180, coarse=45)
    assert [tuple(level.shape[-2:]) for level in levels] == [(30, 45), (60, 90), (120, 180)]
    with torch.no_grad():
        levels = stylize_tensor(net, torch.rand(1, 3, 60, 90), 360, coarse=45)
    assert [tuple(level.shape[-2:]) for level in levels] == [
        (30, 45), (60, 90), (120, 180), (240, 360)]
    assert style_in[-1].shape[-2:] == (32, 48)  # coarse view stays at 45 px (padded to 4)
    assert [tuple(x.shape[-2:]) for x in refine_in[-2:]] == [(120, 180), (240, 360)]


@pytest.mark.parametrize("shape, size", [((1, 1), 1), ((7, 7), 7), ((2, 3), 20), ((1, 400), 64)])
def test_tiny_and_thin_outputs_have_the_requested_size(shape, size):
    from brushwork.hierarchy import stylize_tensor
    from brushwork.levels import plan_levels

    net = MTNet(TINY).eval()
    with torch.no_grad():
        levels = stylize_tensor(net, torch.rand(1, 3, *shape), size)
    assert [tuple(level.shape[-2:]) for level in levels] == plan_levels(*shape, size)
