"""The loss network and the hierarchical loss (paper 3.2, Eq. 2-9), with the real VGG-19."""

from __future__ import annotations

import pytest
import torch

from brushwork.errors import BrushworkError
from brushwork.hyper_parameters import CONTENT_LAYER, TEXTURE_LAYERS, LossConfig, NetworkConfig
from brushwork.losses.perceptual import (
    HierarchicalLoss,
    centred_gram,
    content_loss,
    content_targets,
    gram,
    texture_loss,
)
from brushwork.losses.vgg import CAFFE, TORCHVISION, VGG19Features, load_vgg_weights
from brushwork.networks.multimodal import MTNet

TINY = NetworkConfig.tiny()


@pytest.fixture(scope="module")
def vgg_weights():
    return load_vgg_weights()


@pytest.fixture(scope="module")
def vgg(vgg_weights):
    weights, convention = vgg_weights
    return VGG19Features((*TEXTURE_LAYERS, CONTENT_LAYER), weights, convention)


def texture_image(seed: int, size: int = 64) -> torch.Tensor:
    """Stripes plus noise: a texture with structure at several scales."""
    g = torch.Generator().manual_seed(seed)
    y = torch.linspace(0, 12, size).view(-1, 1)
    x = torch.linspace(0, 12, size).view(1, -1)
    stripes = 0.5 + 0.4 * torch.sin(x + 0.5 * y + seed)
    image = stripes.expand(3, size, size) * torch.tensor([1.0, 0.6, 0.3]).view(3, 1, 1)
    return (image + 0.1 * torch.rand(3, size, size, generator=g)).clamp(0, 1).unsqueeze(0)


def test_gram_matches_a_hand_computed_value():
    features = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 2, 1, 2)
    expected = torch.tensor([[5.0, 11.0], [11.0, 25.0]]) / 4  # F F^T / (C*H*W)
    torch.testing.assert_close(gram(features)[0], expected)


def test_centred_gram_matches_a_hand_computed_covariance():
    features = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 2, 1, 2)
    # minus the channel means 1.5 and 3.5: [[-0.5, 0.5], [-0.5, 0.5]]
    expected = torch.tensor([[0.5, 0.5], [0.5, 0.5]]) / 4
    torch.testing.assert_close(centred_gram(features)[0], expected)


def two_hue_painting(size: int = 64) -> torch.Tensor:
    """A blue painting with yellow accents on a tenth of it, like Starry Night's stars: colour
    that luminance does not explain, and a mean colour that dominates the plain Gram."""
    x = torch.linspace(0, 8, size).view(1, -1).expand(size, size)
    y = torch.linspace(0, 8, size).view(-1, 1).expand(size, size)
    accents = (torch.sin(x) * torch.sin(y) > 0.8).float()
    brightness = 0.6 + 0.3 * torch.sin(1.7 * x + 0.5 * y)
    blue, gold = torch.tensor([0.2, 0.35, 0.8]), torch.tensor([0.85, 0.75, 0.2])
    image = (blue.view(3, 1, 1) * (1 - accents) + gold.view(3, 1, 1) * accents) * brightness
    noise = torch.rand(3, size, size, generator=torch.Generator().manual_seed(0))
    return (image + 0.1 * noise).clamp(0, 1).unsqueeze(0)


def test_the_palette_term_sees_a_two_tone_ramp_the_plain_gram_forgives(vgg):
    """The painting's luminance in its mean colour (a ramp with the right mean, the zoo's
    failure) against the painting: relative to the painting's, the plain relu1_1 Gram error
    is small (0.03 here; 0.012 for the shipped starry-night), the centred one over 10x larger
    (LossConfig.centred_layers)."""
    painting = two_hue_painting()
    lum = painting.mean(dim=1, keepdim=True)
    ramp = (lum / lum.mean() * painting.mean(dim=(2, 3), keepdim=True)).clamp(0, 1)
    config = LossConfig(style_sizes=(64, 64, 64), centred_layers=("relu1_1",))
    criterion = HierarchicalLoss(vgg, [painting] * 3, config)
    scales = criterion.layer_scales[0]
    assert len(criterion.target_grams[0]) == len(TEXTURE_LAYERS) + 1
    features = vgg(ramp)
    plain = scales[0] * float(((gram(features["relu1_1"]) - criterion.target_grams[0][0]) ** 2
                               ).mean())
    centred = scales[-1] * float(((centred_gram(features["relu1_1"])
                                   - criterion.target_grams[0][-1]) ** 2).mean())
    assert centred > 5 * plain, (centred, plain)
    _, levels = criterion([painting] * 3, [painting] * 3)
    assert float(levels[0].texture) < 1e-3 * float(centred)
    assert float(levels[0].palette) < 1e-3 * float(centred)


def test_centred_layers_must_be_texture_layers_and_old_files_have_none(vgg):
    with pytest.raises(ValueError, match="centred layers"):
        HierarchicalLoss(vgg, [two_hue_painting()] * 3, LossConfig(centred_layers=("relu4_2",)))
    assert LossConfig.from_dict({}).centred_layers == ()


def test_content_and_texture_losses_are_zero_on_identical_inputs_and_positive_otherwise():
    a, b = torch.rand(1, 4, 5, 5), torch.rand(1, 4, 5, 5)
    assert content_loss(a, a) == 0 and content_loss(a, b) > 0
    assert texture_loss([gram(a)], [gram(a)]) == 0 and texture_loss([gram(a)], [gram(b)]) > 0


def test_bundled_vgg_weights_are_the_caffe_vgg19(vgg_weights):
    weights, convention = vgg_weights
    assert convention is CAFFE
    assert weights["conv1_1"][0].shape == (64, 3, 3, 3)
    assert weights["conv4_2"][0].shape == (512, 512, 3, 3)


def test_vgg_is_truncated_after_the_deepest_layer_used(vgg):
    assert vgg.names[-1] == "conv4_2"
    features = vgg(torch.rand(1, 3, 32, 32))
    assert set(features) == {*TEXTURE_LAYERS, CONTENT_LAYER}
    assert all(not p.requires_grad for p in vgg.parameters())


def test_torchvision_layout_is_read_with_its_own_convention(vgg_weights, tmp_path):
    weights, _ = vgg_weights
    indices = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25]
    state = {}
    for (_name, (w, b)), index in zip(list(weights.items())[:12], indices):
        state[f"features.{index}.weight"] = w
        state[f"features.{index}.bias"] = b
    path = tmp_path / "vgg19.pth"
    torch.save(state, path)
    loaded, convention = load_vgg_weights(path)
    assert convention is TORCHVISION
    torch.testing.assert_close(loaded["conv4_2"][0], weights["conv4_2"][0])


def test_bad_vgg_weight_files_are_refused(tmp_path):
    junk = tmp_path / "vgg.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(BrushworkError):
        load_vgg_weights(junk)
    with pytest.raises(BrushworkError):
        load_vgg_weights(tmp_path / "missing.pth")
    other = tmp_path / "vgg.bin"
    other.write_bytes(b"x")
    with pytest.raises(BrushworkError):
        load_vgg_weights(other)


def subnet_gradients(vgg, level_weights) -> list[torch.Tensor]:
    torch.manual_seed(0)
    net = MTNet(TINY)
    config = LossConfig(level_weights=level_weights, style_sizes=(32, 64, 64))
    criterion = HierarchicalLoss(vgg, [texture_image(1)] * 3, config)
    photo = texture_image(2)
    sizes = MTNet.training_sizes(64)
    outputs = net(photo, sizes)
    total, _ = criterion(outputs, content_targets(photo, outputs, sizes, "input"))
    total.backward()
    return [
        torch.cat([p.grad.flatten() if p.grad is not None else torch.zeros(p.numel())
                   for p in subnet.parameters()])
        for subnet in net.subnets
    ]


def test_eq_8_9_each_subnet_learns_from_its_level_and_all_later_ones(vgg):
    full = subnet_gradients(vgg, (1.0, 0.5, 0.25))
    without_level_3 = subnet_gradients(vgg, (1.0, 0.5, 0.0))
    only_level_3 = subnet_gradients(vgg, (0.0, 0.0, 1.0))
    only_level_1 = subnet_gradients(vgg, (1.0, 0.0, 0.0))
    # Zeroing a later loss changes the gradients of the earlier subnets: nothing is detached.
    assert not torch.allclose(full[0], without_level_3[0])
    assert not torch.allclose(full[1], without_level_3[1])
    # The refine subnet gets no gradient from levels 1 and 2.
    assert without_level_3[2].abs().max() == 0
    # The last loss alone reaches every subnet, the first alone only the style subnet.
    assert all(g.abs().max() > 0 for g in only_level_3)
    assert only_level_1[0].abs().max() > 0
    assert only_level_1[1].abs().max() == 0 and only_level_1[2].abs().max() == 0


def test_style_grams_are_computed_once_and_features_reused(vgg):
    calls = []
    handle = vgg.register_forward_hook(lambda *args: calls.append(1))
    try:
        criterion = HierarchicalLoss(vgg, [texture_image(1)] * 3,
                                     LossConfig(style_sizes=(32, 64, 64)))
        assert len(calls) == 3  # one per level's style target, at construction
        net = MTNet(TINY)
        sizes = MTNet.training_sizes(64)
        for _ in range(2):
            calls.clear()
            photo = texture_image(2)
            outputs = net(photo, sizes)
            criterion(outputs, content_targets(photo, outputs, sizes, "input"))
            # y1; y2 and y3 batched; content targets of levels 1 and 2 (level 3's target is
            # y2, whose features are already there): 4 passes, no style image among them.
            assert len(calls) == 4
    finally:
        handle.remove()


def test_photo_content_target_anchors_every_level_to_the_photo_once_per_size(vgg):
    criterion = HierarchicalLoss(vgg, [texture_image(1)] * 3,
                                 LossConfig(style_sizes=(32, 64, 64), content_target="photo"))
    net = MTNet(TINY)
    sizes = MTNet.training_sizes(64)
    photo = texture_image(2)
    outputs = net(photo, sizes)
    targets = content_targets(photo, outputs, sizes, "photo")
    # Levels 2 and 3 are both at the crop size in training: one tensor, so one VGG pass.
    assert targets[1] is targets[2] and targets[2] is photo
    assert targets[0].shape[-2:] == outputs[0].shape[-2:]
    calls = []
    handle = vgg.register_forward_hook(lambda *args: calls.append(1))
    try:
        criterion(outputs, targets)
    finally:
        handle.remove()
    assert len(calls) == 4  # y1; y2+y3 batched; the photo at 32 and at 64
    # A level whose output is the photo itself has no content loss (batching rounds a little).
    _, same = criterion([targets[0], photo, photo], targets)
    assert float(same[1].content) < 1e-6 and float(same[2].content) < 1e-6


def test_level_3_texture_target_is_the_largest_style_scale(vgg):
    style = texture_image(3, size=128)
    criterion = HierarchicalLoss(vgg, [style] * 3, LossConfig(style_sizes=(32, 64, 128)))
    relu1 = [level[0] for level in criterion.target_grams]
    assert not torch.allclose(relu1[0], relu1[2])


def test_an_artwork_smaller_than_a_style_size_is_not_scaled_up(vgg):
    """A 64 px artwork with style sizes 32, 64, 128: level 3 takes it at its own 64 px (an
    upscale would be a blurred painting), unless style_upscale (the paper's reading, and
    every model file written before the setting existed)."""
    style = texture_image(7, size=64)
    sizes = (32, 64, 128)
    native = HierarchicalLoss(vgg, [style] * 3, LossConfig(style_sizes=sizes))
    upscaled = HierarchicalLoss(vgg, [style] * 3, LossConfig(style_sizes=sizes,
                                                             style_upscale=True))
    for a, b in zip(native.target_grams[2], native.target_grams[1]):
        torch.testing.assert_close(a, b)  # level 3 = level 2: the artwork at 64 px
    assert not torch.allclose(upscaled.target_grams[2][1], native.target_grams[2][1])
    for level in (0, 1):  # sizes the artwork covers are unchanged
        for a, b in zip(native.target_grams[level], upscaled.target_grams[level]):
            torch.testing.assert_close(a, b)
    assert LossConfig.from_dict({}).style_upscale is True
    assert LossConfig().style_upscale is False


def test_each_level_learns_from_its_own_artwork(vgg):
    """Paper Fig. 7: coarse levels from one artwork, the fine level from another. Level k's
    Gram targets are those of artwork k at level k's size, so swapping the fine artwork changes
    level 3's targets only."""
    coarse, fine, other = texture_image(4, 128), texture_image(5, 128), texture_image(6, 128)
    sizes = LossConfig(style_sizes=(32, 64, 128))
    mixed = HierarchicalLoss(vgg, [coarse, coarse, fine], sizes)
    swapped = HierarchicalLoss(vgg, [coarse, coarse, other], sizes)
    for level in (0, 1):
        for a, b in zip(mixed.target_grams[level], swapped.target_grams[level]):
            assert torch.equal(a, b)
    assert not torch.allclose(mixed.target_grams[2][0], swapped.target_grams[2][0])
    alone = HierarchicalLoss(vgg, [fine] * 3, sizes)
    for a, b in zip(mixed.target_grams[2], alone.target_grams[2]):
        torch.testing.assert_close(a, b)


def test_each_term_has_its_own_name_and_the_terms_add_up_to_the_total(vgg):
    """``texture`` is the paper's Eq. 4 alone, whatever else is on; the palette, agreement
    and colour-layout terms (ours) each stand under their own name (None where off: the
    agreement at level 1, which has no coarser level). With the content term they add up to
    the level's total, and the totals with lambda to L_H, which is what is optimised."""
    painting, photo = two_hue_painting(), texture_image(8, 64)
    sizes = (16, 32, 32)

    def at(image: torch.Tensor, side: int) -> torch.Tensor:
        return torch.nn.functional.interpolate(image, size=(side, side), mode="bilinear",
                                               antialias=True)

    outputs = [at(photo.flip(-1), s).requires_grad_() for s in sizes]
    targets = [at(photo, s) for s in sizes]
    config = LossConfig(style_sizes=(32, 64, 64), centred_layers=("relu1_1",),
                        coarse_agreement=0.5, colour_layout=1.0)
    total, levels = HierarchicalLoss(vgg, [painting] * 3, config)(outputs, targets, 0.5)
    paper = HierarchicalLoss(vgg, [painting] * 3, LossConfig(style_sizes=(32, 64, 64)))
    _, paper_levels = paper(outputs, targets, 0.5)
    for k, (level, alone) in enumerate(zip(levels, paper_levels)):
        torch.testing.assert_close(level.texture, alone.texture)
        assert alone.extra_terms() == {}
        extras = level.extra_terms()
        assert list(extras) == (["palette", "agreement", "colour_layout"] if k
                                else ["palette", "colour_layout"])
        assert all(float(term.detach()) > 0 for term in extras.values()), (k, extras)
        torch.testing.assert_close(level.content + level.texture + sum(extras.values()),
                                   level.total)
    torch.testing.assert_close(
        sum(w * level.total for w, level in zip(config.level_weights, levels)), total)
    total.backward()
    assert all(float(y.grad.abs().sum()) > 0 for y in outputs)


def test_coarse_agreement_scores_the_fine_output_at_every_coarser_size(vgg):
    """LossConfig.coarse_agreement (ours): y3 downscaled to each coarser level's size is also
    scored against that level's artwork. A y3 that is the coarse painting agrees; one that is
    the fine painting does not. A level without gradient (a frozen subnet's) and level 1 (no
    coarser level) are scored as in the paper, and 0 is the paper's loss."""
    coarse, fine = texture_image(4, 128), texture_image(5, 128)
    sizes = (32, 64, 128)
    styles = [coarse, coarse, fine]
    paper = HierarchicalLoss(vgg, styles, LossConfig(style_sizes=sizes))
    agree = HierarchicalLoss(vgg, styles, LossConfig(style_sizes=sizes, coarse_agreement=0.5))
    photo = texture_image(8, 128)

    def levels(criterion, y3):
        y1 = torch.nn.functional.interpolate(photo, size=(32, 32), mode="bilinear",
                                             antialias=True).requires_grad_()
        y2 = torch.nn.functional.interpolate(photo, size=(64, 64), mode="bilinear",
                                             antialias=True)  # a frozen level: no gradient
        return criterion([y1, y2, y3.clone().requires_grad_()], [y1, y2, photo])[1]

    plain, agreed = levels(paper, photo), levels(agree, photo)
    for k in (0, 1):
        assert agreed[k].agreement is None
        torch.testing.assert_close(agreed[k].total, plain[k].total)
    torch.testing.assert_close(agreed[2].texture, plain[2].texture)  # Eq. 4 alone
    assert float(agreed[2].agreement.detach()) > 0
    assert float(agreed[2].total.detach()) > float(plain[2].total.detach())
    extra = {name: float(levels(agree, y3)[2].agreement.detach())
             for name, y3 in (("coarse", coarse), ("fine", fine))}
    assert extra["coarse"] < 0.05 * extra["fine"], extra
    with torch.autocast("cpu", dtype=torch.bfloat16):  # as it trains on a bf16 CPU
        assert torch.isfinite(levels(agree, photo.bfloat16())[2].total)  # a bf16 y3
    assert LossConfig.from_dict({}).coarse_agreement == 0
    with pytest.raises(ValueError, match="coarse agreement"):
        LossConfig(coarse_agreement=-1.0).check(3)


def test_colour_layout_places_the_paintings_colours_where_the_photos_are(vgg):
    """LossConfig.colour_layout (ours): each level's coarse chroma is compared with the
    photo's recoloured to the painting's palette. The recoloured photo itself scores ~0;
    the same picture with a blob of the painting's accent colour where the photo has none
    (the zoo's orange blobs) scores far more, and so does a two-tone ramp of the photo's
    luminance (right palette, colours not where the photo's are). 0 is the paper's loss."""
    from brushwork.losses.colour import colour_statistics, recolour_batch

    painting = two_hue_painting()
    sizes = (32, 64, 64)
    paper = HierarchicalLoss(vgg, [painting] * 3, LossConfig(style_sizes=sizes))
    layout = HierarchicalLoss(vgg, [painting] * 3, LossConfig(style_sizes=sizes,
                                                              colour_layout=1.0))
    photo = texture_image(8, 64)
    mean, cov = colour_statistics(painting[0].flatten(1).T)
    recoloured = recolour_batch(photo, mean, cov).clamp(0, 1)
    blob = recoloured.clone()
    blob[:, :, 4:24, 36:60] = torch.tensor([0.85, 0.75, 0.2]).view(1, 3, 1, 1)
    lum = recoloured.mean(dim=1, keepdim=True)
    ramp = (lum / lum.mean() * painting.mean(dim=(2, 3), keepdim=True)).clamp(0, 1)

    def extra(image: torch.Tensor) -> float:
        outputs = [torch.nn.functional.interpolate(image, size=(s, s), mode="bilinear",
                                                   antialias=True) for s in sizes]
        targets = [torch.nn.functional.interpolate(photo, size=(s, s), mode="bilinear",
                                                   antialias=True) for s in sizes]
        with_term, without = layout(outputs, targets)[1], paper(outputs, targets)[1]
        for a, b in zip(with_term, without):
            torch.testing.assert_close(a.texture, b.texture)  # Eq. 4 alone
            torch.testing.assert_close(a.total, b.total + a.colour_layout)
        return sum(float(a.colour_layout) for a in with_term)

    faithful, blotched, two_tone = extra(recoloured), extra(blob), extra(ramp)
    assert blotched > 20 * max(faithful, 1.0) and two_tone > 5 * max(faithful, 1.0), (
        faithful, blotched, two_tone)
    y = recoloured.clone().requires_grad_()
    layout._colour_layout(y, layout._colour_layout_target(photo)).backward()
    assert y.grad is not None and float(y.grad.abs().sum()) > 0
    with torch.autocast("cpu", dtype=torch.bfloat16):  # as it trains on a bf16 CPU
        assert torch.isfinite(layout._colour_layout(blob.bfloat16(),
                                                    layout._colour_layout_target(photo)))
    assert LossConfig.from_dict({}).colour_layout == 0
    with pytest.raises(ValueError, match="colour layout"):
        LossConfig(colour_layout=-1.0).check(3)
