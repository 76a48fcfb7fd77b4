"""Colour: luminance-only transfer and strength (``brushwork.color``), photos' colour handling
on reading (ICC profiles to sRGB, EXIF, HEIC/AVIF: ``brushwork.images``), and the API options
built on them (``Stylizer.stylize(preserve_color=, strength=)``, ``Stylizer.preview``).
"""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
import torch
from PIL import Image, ImageCms

from brushwork import BrushworkError
from brushwork.api import load_model
from brushwork.color import (
    adjust,
    blend,
    check_strength,
    luminance,
    match_colours,
    preserve_color,
)
from brushwork.images import (
    encode_image,
    load_image,
    output_format_named,
    read_image,
    save_image,
    to_tensor,
)
from brushwork.levels import level_long_sides
from tests.helpers import as_pixels, levels_by_hand, make_photo


@pytest.fixture(autouse=True)
def _global_rng_untouched():
    """Loading a model initialises a network from torch's global RNG before its weights are
    read; restore the RNG so that later test files see the state they would without these."""
    with torch.random.fork_rng(devices=[]):
        yield


def rgb(array: np.ndarray) -> Image.Image:
    return Image.fromarray(np.asarray(array, dtype=np.uint8), "RGB")


def floats(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=float) / 255.0


@pytest.fixture
def pair() -> tuple[Image.Image, Image.Image]:
    """(painting, photo): a grey-ish textured painting and a colourful, mid-tone photo, so
    that the luminance transfer stays inside the gamut (no pixel needs its chroma scaled)."""
    rng = np.random.default_rng(0)
    painting = rgb(100 + rng.integers(0, 60, (20, 30, 1)) + rng.integers(0, 8, (20, 30, 3)))
    x = np.linspace(0, 1, 30)[None, :, None]
    photo = rgb(np.concatenate([110 + 40 * x, 120 - 30 * x, 130 + 0 * x], axis=-1)
                * np.ones((20, 1, 1)))
    return painting, photo


# ------------------------------------------------------------------ luminance-only transfer


def test_preserve_color_takes_luma_from_the_painting_and_chroma_from_the_photo(pair):
    painting, photo = pair
    out = floats(preserve_color(painting, photo))
    assert np.abs(luminance(out) - luminance(floats(painting))).max() < 1.5 / 255
    chroma = out - luminance(out)
    photo_chroma = floats(photo) - luminance(floats(photo))
    assert np.abs(chroma - photo_chroma).max() < 1.5 / 255


#: RGB -> Y + two chroma axes: YIQ (Gatys et al.) and full-range YCbCr (JPEG).
YIQ = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
YCBCR = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688,
                                                                        -0.081312]])


@pytest.mark.parametrize("space", [YIQ, YCBCR], ids=["YIQ", "YCbCr"])
def test_the_same_in_yiq_as_in_ycbcr(pair, space):
    """Gatys et al. use YIQ; with all the chroma copied, any Y-based space gives the same."""
    painting, photo = pair
    y = floats(painting) @ space.T
    chroma = floats(photo) @ space.T
    expected = np.concatenate([y[..., :1], chroma[..., 1:]], axis=-1) @ np.linalg.inv(space).T
    assert np.abs(floats(preserve_color(painting, photo)) - expected).max() <= 1 / 255


def test_out_of_gamut_pixels_keep_the_paintings_luminance():
    """A black stroke on saturated blue: clipping would brighten it; chroma scaling does not."""
    painting = rgb(np.full((4, 4, 3), 20))
    photo = rgb(np.tile([20, 40, 250], (4, 4, 1)))
    out = floats(preserve_color(painting, photo))
    assert np.abs(luminance(out) - 20 / 255).max() < 1.5 / 255
    assert out[..., 2].min() > out[..., 0].max()  # still blue
    assert out.min() >= 0 and out.max() <= 1


def test_strength_blends_linearly(pair):
    painting, photo = pair
    assert blend(painting, photo, 1.0) is painting
    assert np.array_equal(np.asarray(blend(painting, photo, 0.0)), np.asarray(photo))
    half = floats(blend(painting, photo, 0.5))
    assert np.abs(half - (floats(painting) + floats(photo)) / 2).max() <= 1 / 255


def test_both_together_blend_the_colour_preserved_painting(pair):
    painting, photo = pair
    both = floats(adjust(painting, photo, preserve_color=True, strength=0.3))
    expected = 0.3 * floats(preserve_color(painting, photo)) + 0.7 * floats(photo)
    assert np.abs(both - expected).max() <= 1.5 / 255


def test_a_photo_of_another_size_is_resized_to_the_painting(pair):
    painting, photo = pair
    out = adjust(painting, photo.resize((300, 200)), strength=0.0)
    assert out.size == painting.size


@pytest.mark.parametrize("value", [-0.01, 1.01, float("nan"), "much", None])
def test_strength_outside_0_1_is_an_error(value):
    with pytest.raises(BrushworkError, match="strength"):
        check_strength(value)


# ----------------------------------------------------------------------------- the API


@pytest.fixture
def model(tiny_model_file):
    return load_model(tiny_model_file, device="cpu", precision="float32")


def test_stylize_options_reach_the_output(model, sample_photo):
    photo = load_image(sample_photo)
    painting = model.stylize(photo, 96)
    assert model.stylize(photo, 96, strength=1.0, preserve_color=False) == painting
    same = model.stylize(photo, 96, strength=0.0)
    expected = photo.resize(same.size, Image.Resampling.BILINEAR)
    assert np.abs(np.asarray(same, dtype=int) - np.asarray(expected, dtype=int)).max() <= 1
    kept = model.stylize(photo, 96, preserve_color=True)
    assert np.abs(floats(kept) - floats(painting)).mean() > 0.01
    with pytest.raises(BrushworkError, match="strength"):
        model.stylize(photo, 96, strength=2)


def test_levels_are_reported_as_they_finish(model, sample_photo):
    photo = load_image(sample_photo)
    for size, count in ((96, 3), (2048, 4)):
        assert len(level_long_sides(size)) == count
        seen: list[tuple[int, int]] = []
        levels = model.stylize_levels(photo, size, on_level=lambda k, n, seen=seen:
                                      seen.append((k, n)))
        assert len(levels) == count
        assert seen == [(k, count) for k in range(1, count + 1)]


def test_the_preview_is_exactly_the_first_level(model, sample_photo):
    """At 1024 and beyond the style subnet paints at 256: the preview is that level."""
    photo = load_image(sample_photo)
    preview = model.preview(photo)
    assert preview.size == (256, 171)
    for size in (1024, 2048):
        first = model.stylize_levels(photo, size)[0]
        assert np.array_equal(np.asarray(preview), np.asarray(first))
    small = model.preview(photo, 64)
    assert np.array_equal(np.asarray(small), np.asarray(model.stylize_levels(photo, 256)[0]))


def test_the_preview_is_the_style_subnet_on_the_photo_at_256(painting_model_file):
    """The preview against an independent reference: the style subnet run by hand on the
    photo resized to 256 px (``levels_by_hand``), with a network that paints. The test above
    compares the preview with the library's own first level, which a change to the shared
    pipeline (a flipped or mis-sized resize) would move alike."""
    model = load_model(painting_model_file, device="cpu", precision="float32")
    photo = make_photo((320, 240))  # 4:3: 256x192 and 64x48, no padding
    for size, side in ((256, (192, 256)), (64, (48, 64))):
        y1 = as_pixels(levels_by_hand(model.network, to_tensor(photo), [side])[0])
        preview = np.asarray(model.preview(photo, size))
        assert preview.shape == y1.shape and y1.std() > 20
        assert np.abs(preview.astype(int) - y1.astype(int)).max() <= 1, size


# ----------------------------------------------------------------- reading photos' colour


def _icc_swapping_red_and_blue() -> bytes:
    """A minimal ICC v2 RGB display profile whose red primary is sRGB's blue and vice versa
    (D50-adapted sRGB primaries, gamma 2.2): an 'RGB' red pixel in it is really blue."""
    def s15(value: float) -> bytes:
        return struct.pack(">i", round(value * 65536))

    def xyz(x: float, y: float, z: float) -> bytes:
        return b"XYZ " + bytes(4) + s15(x) + s15(y) + s15(z)

    curve = b"curv" + bytes(4) + struct.pack(">IH", 1, round(2.2 * 256)) + bytes(2)
    text = b"swapped\x00"
    desc = (b"desc" + bytes(4) + struct.pack(">I", len(text)) + text + bytes(4) + bytes(4)
            + bytes(3) + bytes(67))
    desc += bytes(-len(desc) % 4)
    red, green, blue = (0.4361, 0.2225, 0.0139), (0.3851, 0.7169, 0.0971), (0.1431, 0.0606,
                                                                           0.7141)
    tags = [(b"desc", desc), (b"wtpt", xyz(0.9642, 1.0, 0.8249)), (b"rXYZ", xyz(*blue)),
            (b"gXYZ", xyz(*green)), (b"bXYZ", xyz(*red)), (b"rTRC", curve), (b"gTRC", curve),
            (b"bTRC", curve)]
    offset = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for signature, body in tags:
        table += signature + struct.pack(">II", offset + len(data), len(body))
        data += body
    size = offset + len(data)
    header = (struct.pack(">I", size) + b"lcms" + bytes([2, 0x10, 0, 0]) + b"mntrRGB XYZ "
              + bytes(12) + b"acsp" + bytes(4) + bytes(4) + bytes(8) + bytes(8) + bytes(4)
              + s15(0.9642) + s15(1.0) + s15(0.8249) + bytes(4) + bytes(16) + bytes(28))
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + data


def test_an_icc_profile_is_converted_to_srgb(tmp_path):
    icc = _icc_swapping_red_and_blue()
    ImageCms.ImageCmsProfile(io.BytesIO(icc))  # a profile littleCMS accepts
    path = tmp_path / "swapped.png"
    Image.new("RGB", (8, 8), (255, 0, 0)).save(path, icc_profile=icc)
    r, g, b = load_image(path).getpixel((4, 4))
    assert b > 200 and r < 60 and g < 60  # the "red" pixel of this profile is sRGB blue


def test_srgb_and_broken_profiles_leave_the_pixels_alone(tmp_path):
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    for name, icc in (("srgb.png", srgb), ("broken.png", b"not a profile at all" * 8)):
        path = tmp_path / name
        Image.new("RGB", (8, 8), (200, 30, 60)).save(path, icc_profile=icc)
        assert load_image(path).getpixel((1, 1)) == (200, 30, 60)


def test_a_cmyk_photo_with_a_profile_becomes_rgb(tmp_path):
    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(path)  # red in CMYK
    r, g, b = load_image(path).getpixel((4, 4))
    assert r > 200 and g < 60 and b < 60


def test_exif_orientation_is_applied_and_the_rest_kept(tmp_path):
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x0110] = "PhoneModel"
    Image.new("RGB", (60, 40), (10, 20, 30)).save(path, exif=exif.tobytes())
    image = load_image(path)
    assert image.size == (40, 60)
    kept = Image.Exif()
    kept.load(image.info["exif"])
    assert kept[0x0110] == "PhoneModel" and kept[0x0112] == 1
    out = tmp_path / "out.webp"
    save_image(image, out, exif=image.info["exif"])
    with Image.open(out) as written:
        assert written.getexif()[0x0110] == "PhoneModel"


def test_read_image_from_bytes(sample_photo):
    image = read_image(sample_photo.read_bytes(), "upload.jpg")
    assert (image.mode, image.size) == ("RGB", (300, 200))
    with pytest.raises(BrushworkError, match=r"upload\.jpg: empty"):
        read_image(b"", "upload.jpg")
    with pytest.raises(BrushworkError, match=r"notes\.txt: not an image"):
        read_image(b"hello", "notes.txt")


def test_heic_is_read_with_pillow_heif():
    pillow_heif = pytest.importorskip("pillow_heif", reason="pillow-heif is not installed")
    pillow_heif.register_heif_opener()
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 40, 40)).save(buffer, format="HEIF", quality=95)
    image = read_image(buffer.getvalue(), "IMG_0001.HEIC")
    assert image.size == (64, 48)
    r, g, b = image.getpixel((32, 24))
    assert r > 170 and g < 80 and b < 80


def test_avif_is_read_where_pillow_has_it():
    from PIL import features

    if not features.check("avif"):
        pytest.skip("this Pillow was built without AVIF")
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (40, 200, 40)).save(buffer, format="AVIF", quality=95)
    assert read_image(buffer.getvalue(), "photo.avif").size == (64, 48)


@pytest.mark.parametrize(("name", "fmt", "mime_start"), [
    ("png", "PNG", b"\x89PNG"), ("JPG", "JPEG", b"\xff\xd8"), ("webp", "WEBP", b"RIFF")])
def test_encode_by_format_name(name, fmt, mime_start):
    pil, suffix = output_format_named(name)
    assert pil == fmt and suffix.startswith(".")
    data = encode_image(Image.new("RGB", (8, 8)), pil, quality=80)
    assert data.startswith(mime_start)


def test_bad_format_and_quality_are_errors():
    with pytest.raises(BrushworkError, match="gif"):
        output_format_named("gif")
    with pytest.raises(BrushworkError, match="quality"):
        encode_image(Image.new("RGB", (8, 8)), "JPEG", quality=0)


def test_the_preview_runs_in_bfloat16_as_the_painting_does(painting_model_file):
    """In bfloat16 the style subnet stays in float32 (``prepare_for_inference``): the preview
    fed it a bf16 photo and failed ('Input type (BFloat16) and bias type (float)'), so every
    painting from the web page failed on a bf16 CPU while float32 tests passed. The preview
    must be the bf16 painting's first level."""
    model = load_model(painting_model_file, device="cpu", precision="bfloat16")
    photo = make_photo((320, 240))
    preview = np.asarray(model.preview(photo))
    first = np.asarray(model.stylize_levels(photo, 1024)[0])
    assert preview.shape == first.shape and first.std() > 20
    assert np.abs(preview.astype(int) - first.astype(int)).max() <= 1


def test_colour_matching_gives_the_references_mean_and_covariance_and_keeps_the_shapes():
    """``match_colours`` (Fig. 7's fine artwork recoloured to the coarse one's palette): the
    result has the reference's colour mean and covariance, and its light and dark lie where
    the image's did. A reddish image with shapes is matched to a bluish one."""
    rng = np.random.default_rng(0)
    shapes = np.kron(rng.random((8, 8)), np.ones((8, 8)))[..., None]  # 64x64 blocks
    image = rgb(60 + 120 * shapes * np.array([1.0, 0.5, 0.3]) + rng.integers(0, 20, (64, 64, 3)))
    reference = rgb(np.stack([rng.integers(10, 60, (48, 40)), rng.integers(60, 140, (48, 40)),
                              rng.integers(120, 230, (48, 40))], axis=-1))
    matched = match_colours(image, reference)
    assert matched.size == image.size

    def stats(picture):
        pixels = np.asarray(picture, dtype=float).reshape(-1, 3)
        return pixels.mean(axis=0), np.cov(pixels, rowvar=False)

    (mean, cov), (ref_mean, ref_cov) = stats(matched), stats(reference)
    np.testing.assert_allclose(mean, ref_mean, atol=1.5)
    np.testing.assert_allclose(cov, ref_cov, atol=0.05 * np.abs(ref_cov).max())


    def block_luma(picture):  # the shapes: mean luminance of each 8x8 block
        return luminance(np.asarray(picture, dtype=float)).reshape(8, 8, 8, 8).mean((1, 3))

    assert np.corrcoef(block_luma(image).ravel(), block_luma(matched).ravel())[0, 1] > 0.9
