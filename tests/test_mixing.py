"""Style mixing: by weights for networks of one lineage, else by outputs;
from Python, the command line and HTTP; and the compact (int8) built-in model files."""

from __future__ import annotations

import copy
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import brushwork
from brushwork.errors import BrushworkError
from brushwork.mixing import parse_mix
from brushwork.model_files import (
    SCALE_SUFFIX,
    lineage,
    read_model_file,
    save_model,
    write_compact,
)
from brushwork.networks.multimodal import MTNet
from tests.helpers import make_photo, paints

PHOTO = make_photo((96, 64))


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.float64)


def nudged(net: MTNet, seed: int) -> MTNet:
    """A copy of ``net`` whose weights moved a little, as a fine-tuning moves them."""
    other = copy.deepcopy(net)
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed)
        for p in other.parameters():
            p.add_(0.3 * p.abs().mean() * torch.randn_like(p))
    return other


@pytest.fixture
def family(tmp_path, painting_network, tiny_config, tiny_metadata):
    """Three model files: a base and two fine-tunings of it (same lineage), plus a stranger
    trained from other weights (its own lineage)."""
    base = tmp_path / "base.safetensors"
    save_model(base, painting_network, tiny_metadata)
    root = lineage(read_model_file(base)[1])
    files = {"base": base}
    for name, seed in (("a", 1), ("b", 2)):
        files[name] = tmp_path / f"{name}.safetensors"
        save_model(files[name], nudged(painting_network, seed), {**tiny_metadata, "lineage": root})
    files["stranger"] = tmp_path / "stranger.safetensors"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(99)
        stranger = paints(MTNet(tiny_config), seed=7)
    save_model(files["stranger"], stranger, tiny_metadata)
    return files


def test_parse_mix_normalises_weights_and_refuses_nonsense():
    parts = parse_mix("starry-night:3,great-wave:1")
    assert [(p.source, p.weight) for p in parts] == [("starry-night", 0.75), ("great-wave", 0.25)]
    assert [p.weight for p in parse_mix("a,b")] == [0.5, 0.5]
    assert parse_mix("starry-night") is None
    for bad in ("a:x,b:1", "a:-1,b:1", "a:0,b:0", ":1,b", "a:nan,b:1"):
        with pytest.raises(BrushworkError):
            parse_mix(bad)


def test_mixing_by_weights_is_one_network_with_the_mean_weights(family):
    model = brushwork.load_model(f"{family['a']}:0.25,{family['b']}:0.75", device="cpu",
                                 precision="float32")
    assert model.metadata["mix_mode"] == "weights"
    a, _ = read_model_file(family["a"])
    b, _ = read_model_file(family["b"])
    state = model.network.state_dict()
    for name in a:  # independent of mix_weights: the formula written out
        assert torch.allclose(state[name].float(), 0.25 * a[name] + 0.75 * b[name], atol=1e-6)
    # a share of 1 paints exactly the single model
    alone = brushwork.load_model(family["a"], device="cpu", precision="float32")
    full = brushwork.load_model(f"{family['a']}:1,{family['b']}:0", device="cpu",
                                precision="float32")
    assert np.array_equal(pixels(alone.stylize(PHOTO, 96)), pixels(full.stylize(PHOTO, 96)))


def test_strangers_mix_by_outputs_the_mean_of_their_paintings(family):
    spec = f"{family['a']}:0.5,{family['stranger']}:0.5"
    model = brushwork.load_model(spec, device="cpu", precision="float32")
    assert model.metadata["mix_mode"] == "outputs"
    one = pixels(brushwork.load_model(family["a"], device="cpu", precision="float32")
                 .stylize(PHOTO, 96))
    two = pixels(brushwork.load_model(family["stranger"], device="cpu", precision="float32")
                 .stylize(PHOTO, 96))
    assert np.abs(one - two).mean() > 5  # the two paint differently: the blend shows
    blend = pixels(model.stylize(PHOTO, 96))
    assert np.abs(blend - (one + two) / 2).max() <= 1.0  # rounding of the 8-bit pictures
    with pytest.raises(BrushworkError, match="did not start from the same weights"):
        brushwork.load_model(spec, device="cpu", mix="weights")


def test_the_cli_paints_a_mix(family, tmp_path):
    out = tmp_path / "mix.png"
    photo = tmp_path / "photo.png"
    PHOTO.save(photo)
    done = subprocess.run(
        [sys.executable, "-m", "brushwork", "stylize", str(photo), "--model",
         f"{family['a']}:0.6,{family['b']}:0.4", "--size", "96", "-o", str(out), "--json",
         "--precision", "float32"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    expected = brushwork.load_model(f"{family['a']}:0.6,{family['b']}:0.4", device="cpu",
                                    precision="float32").stylize(PHOTO, 96)
    assert np.abs(pixels(Image.open(out)) - pixels(expected)).max() <= 1
    bad = subprocess.run(
        [sys.executable, "-m", "brushwork", "stylize", str(photo), "--model",
         f"{family['a']}:lots,{family['b']}", "-o", str(tmp_path / "x.png")],
        capture_output=True, text=True)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    assert "not a number" in bad.stderr and not (tmp_path / "x.png").exists()


def test_compact_files_are_half_the_size_and_paint_the_same(family, tmp_path):
    compact = tmp_path / "compact.safetensors"
    write_compact(family["a"], compact)
    from safetensors.torch import load_file

    def weight_bytes(path):
        return sum(t.numel() * t.element_size() for t in load_file(path).values())

    # int8 + one float32 scale per channel vs float16 (the tiny net's biases stay float16)
    assert weight_bytes(compact) < 0.6 * weight_bytes(family["a"])
    tensors, metadata = read_model_file(compact)
    full, full_metadata = read_model_file(family["a"])
    assert metadata["lineage"] == lineage(full_metadata)  # still mixes with its family
    for name, weight in full.items():  # int8 per output channel: error <= half a step
        step = weight.reshape(weight.shape[0], -1).abs().amax(1) / 127
        error = (tensors[name] - weight).reshape(weight.shape[0], -1).abs().amax(1)
        assert bool((error <= step / 2 + 1e-3 * weight.abs().max() + 1e-6).all()), name
    model = brushwork.load_model(f"{compact}:0.5,{family['b']}:0.5", device="cpu")
    assert model.metadata["mix_mode"] == "weights"


def test_a_compact_file_without_its_scales_is_refused(family, tmp_path):
    from safetensors.torch import load_file, save_file

    compact = tmp_path / "compact.safetensors"
    write_compact(family["a"], compact)
    tensors = load_file(compact)
    header = json.loads(compact.read_bytes()[8:8 + int.from_bytes(
        compact.read_bytes()[:8], "little")])["__metadata__"]
    meta = json.loads(header["brushwork"])
    meta.pop("data_sha256")
    scale = next(n for n in tensors if n.endswith(SCALE_SUFFIX))
    del tensors[scale]
    broken = tmp_path / "broken.safetensors"
    save_file(tensors, broken, metadata={"brushwork": json.dumps(meta)})
    with pytest.raises(BrushworkError, match="per-channel scale"):
        read_model_file(broken)


def test_the_server_paints_a_mix_of_styles_it_offers(family, tmp_path):
    from fastapi.testclient import TestClient

    from brushwork.server.app import create_app
    from brushwork.server.work import ServerSettings

    settings = ServerSettings(models=[family["a"], family["b"]], device="cpu",
                              precision="float32")
    with TestClient(create_app(settings), base_url="http://localhost",
                    raise_server_exceptions=False) as client:
        photo = tmp_path / "photo.png"
        PHOTO.save(photo)
        ids = [s["id"] for s in client.get("/v1/styles").json()["styles"]]
        assert {"a", "b"} <= set(ids)
        with photo.open("rb") as f:
            answer = client.post("/v1/stylize", files={"file": ("p.png", f, "image/png")},
                                 data={"style": "a:0.5,b:0.5", "size": "96", "format": "png"})
        assert answer.status_code == 200, answer.text
        with photo.open("rb") as f:
            refused = client.post("/v1/stylize", files={"file": ("p.png", f, "image/png")},
                                  data={"style": f"a:0.5,{family['stranger']}:0.5"})
        assert refused.status_code == 422  # a mix names offered styles, never a file


def test_fine_tuning_records_the_lineage_of_the_first_network(tmp_path):
    from brushwork.hyper_parameters import LossConfig, NetworkConfig, TrainConfig
    from brushwork.training import train

    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(2):
        make_photo((64, 48)).rotate(10 * i).save(photos / f"{i}.jpg")
    art = tmp_path / "art.jpg"
    make_photo((48, 48)).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(art)
    tiny = NetworkConfig.tiny()
    config = TrainConfig(iterations=1, crop_size=32, photo_size=32, mixed_precision=False,
                         minutes=0)
    loss = LossConfig(style_sizes=(16, 32, 64))
    first = train([art], photos, tmp_path / "a.safetensors", network=tiny, loss=loss,
                  config=config)
    second = train([art], photos, tmp_path / "b.safetensors", network=tiny, loss=loss,
                   config=config, init_from=first)
    third = train([art], photos, tmp_path / "c.safetensors", network=tiny, loss=loss,
                  config=config, init_from=second)
    root = read_model_file(first)[1]["data_sha256"]
    assert "lineage" not in read_model_file(first)[1]
    assert read_model_file(second)[1]["lineage"] == root
    assert read_model_file(third)[1]["lineage"] == root
