"""Model files: safetensors weights (float16) + a JSON ``brushwork`` metadata document.

Every way a model file can be wrong must end in a ``BrushworkError`` (``pytest.raises`` lets
any other exception type through as a test error), and nothing is ever unpickled.

Over 500 lines because the table of hostile architectures (one row per way a header can ask
for too large a network) is a third of it; the rows read best in one place.
"""

from __future__ import annotations

import contextlib
import json
import pickle
import random
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save as save_safetensors_bytes

from brushwork import BrushworkError, load_model
from brushwork.hyper_parameters import NetworkConfig
from brushwork.model_files import (
    FORMAT_VERSION,
    load_state_into,
    read_model_file,
    save_model,
)
from brushwork.networks.multimodal import MTNet
from tests.helpers import HOSTILE_RSS_BOUND, peak_growth

# ------------------------------------------------------------------------------- helpers


def write_raw(path: Path, tensors: dict[str, torch.Tensor], document: dict | None) -> Path:
    """A safetensors file with ``document`` as its brushwork metadata (None: no metadata)."""
    metadata = None if document is None else {"brushwork": json.dumps(document)}
    path.write_bytes(save_safetensors_bytes(
        {name: t.contiguous() for name, t in tensors.items()}, metadata=metadata))
    return path


def write_header(path: Path, header: bytes, body: bytes = b"") -> Path:
    """A file with a safetensors-style length prefix and an arbitrary header."""
    path.write_bytes(len(header).to_bytes(8, "little") + header + body)
    return path


def fp16_state(network: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().half() for k, v in network.state_dict().items()}


def document(metadata: dict, **changes) -> dict:
    return {"format_version": FORMAT_VERSION, **metadata, **changes}


def refuse(path: Path, match: str | None = None) -> BrushworkError:
    """Both entry points refuse ``path`` with a BrushworkError (matching ``match``)."""
    with pytest.raises(BrushworkError, match=match) as raised:
        load_model(path, device="cpu")
    return raised.value


class Trap:
    """Unpickling this object creates ``marker``: proof that a file was unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


# ---------------------------------------------------------------------------- round trip


def test_round_trip_float16_and_metadata(tmp_path, tiny_network, tiny_metadata):
    extra = {"styles": [{"file": "art.jpg", "width": 64, "height": 48}], "note": "ünïcode ✓"}
    path = tmp_path / "model.safetensors"
    save_model(path, tiny_network, {**tiny_metadata, **extra})

    original = tiny_network.state_dict()
    with safe_open(str(path), framework="pt") as handle:
        assert set(handle.keys()) == set(original)
        assert all(handle.get_tensor(k).dtype == torch.float16 for k in handle.keys())  # noqa: SIM118 (not a dict)
        assert json.loads(handle.metadata()["brushwork"])["format_version"] == FORMAT_VERSION

    tensors, metadata = read_model_file(path)
    # JSON turns the config's tuples into lists; from_dict turns them back.
    expected = json.loads(json.dumps({"format_version": FORMAT_VERSION, **tiny_metadata, **extra}))
    assert len(metadata.pop("data_sha256")) == 64  # the weights' checksum, verified on load
    assert metadata == expected
    assert NetworkConfig.from_dict(metadata["network"]) == tiny_network.config
    assert set(tensors) == set(original)
    for name, tensor in tensors.items():
        assert tensor.dtype == torch.float32
        assert torch.equal(tensor, original[name].half().float()), name

    model = load_model(path, device="cpu", precision="float32")
    assert model.metadata == {**metadata, "data_sha256": model.metadata["data_sha256"]}
    assert model.parameter_count == sum(p.numel() for p in tiny_network.parameters())
    assert isinstance(model.network, MTNet)
    assert model.network.config == tiny_network.config
    loaded = model.network.state_dict()
    for name, tensor in original.items():
        assert torch.equal(loaded[name], tensor.half().float()), name
    assert not list(tmp_path.glob(".*.tmp"))


def test_save_model_into_a_missing_folder(tmp_path, tiny_network, tiny_metadata):
    with pytest.raises(BrushworkError, match="does not exist"):
        save_model(tmp_path / "nope" / "model.safetensors", tiny_network, tiny_metadata)


def test_save_model_replaces_an_existing_file(tmp_path, tiny_model_file, tiny_network,
                                              tiny_metadata):
    save_model(tiny_model_file, tiny_network, {**tiny_metadata, "note": "second"})
    assert read_model_file(tiny_model_file)[1]["note"] == "second"
    assert not list(tmp_path.glob(".*.tmp"))


# ------------------------------------------------------------------------------- pickles


@pytest.mark.parametrize("how", ["torch-zip", "torch-legacy", "pickle-2", "pickle-5"])
def test_pickle_is_refused_and_never_unpickled(tmp_path, how):
    marker = tmp_path / "UNPICKLED"
    payload = {"weight": torch.zeros(2), "trap": Trap(marker)}
    path = tmp_path / "model.safetensors"
    if how == "torch-zip":
        torch.save(payload, path)
    elif how == "torch-legacy":
        torch.save(payload, path, _use_new_zipfile_serialization=False)
    else:
        path.write_bytes(pickle.dumps(payload, protocol=int(how[-1])))
    assert not marker.exists()

    with pytest.raises(BrushworkError, match="pickle") as raised:
        read_model_file(path)
    assert "never" in str(raised.value) and "unpickle" in str(raised.value)
    refuse(path, match="pickle")
    assert not marker.exists()


def test_old_protocol_pickle_is_refused_and_never_unpickled(tmp_path):
    # Protocols 0 and 1 have no \x80 opcode; the file must still be refused, not loaded.
    marker = tmp_path / "UNPICKLED"
    path = tmp_path / "model.safetensors"
    for protocol in (0, 1):
        path.write_bytes(pickle.dumps({"trap": Trap(marker)}, protocol=protocol))
        with pytest.raises(BrushworkError):
            read_model_file(path)
        refuse(path)
    assert not marker.exists()


def test_the_trap_does_fire_when_unpickled(tmp_path):
    """Guards the pickle tests: unpickling a Trap really creates its marker."""
    marker = tmp_path / "fired"
    pickle.loads(pickle.dumps(Trap(marker)))
    assert marker.exists()


# --------------------------------------------------------------------------- bad containers


def test_missing_file(tmp_path):
    refuse(tmp_path / "absent.safetensors", match="not found")


def test_folder_instead_of_file(tmp_path):
    folder = tmp_path / "model.safetensors"
    folder.mkdir()
    refuse(folder)


def test_unreadable_file(tmp_path, tiny_model_file, monkeypatch):
    def fail(self):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", fail)
    with pytest.raises(BrushworkError, match="Permission denied"):
        read_model_file(tiny_model_file)


@pytest.mark.parametrize("keep", ["empty", "4 bytes", "length prefix", "half header",
                                  "header only", "half data", "one byte short"])
def test_truncated_file(tmp_path, tiny_model_file, keep):
    data = tiny_model_file.read_bytes()
    header_end = 8 + int.from_bytes(data[:8], "little")
    cut = {
        "empty": 0, "4 bytes": 4, "length prefix": 8, "half header": header_end // 2,
        "header only": header_end, "half data": (header_end + len(data)) // 2,
        "one byte short": len(data) - 1,
    }[keep]
    tiny_model_file.write_bytes(data[:cut])
    with pytest.raises(BrushworkError):
        read_model_file(tiny_model_file)
    refuse(tiny_model_file)


@pytest.mark.parametrize("seed", range(6))
def test_random_bytes(tmp_path, seed):
    rng = random.Random(seed)
    path = tmp_path / "noise.safetensors"
    path.write_bytes(bytes(rng.getrandbits(8) for _ in range(rng.choice([3, 64, 5000]))))
    refuse(path)


@pytest.mark.parametrize("seed", range(4))
def test_random_bytes_behind_a_plausible_header_length(tmp_path, seed):
    rng = random.Random(seed)
    header = bytes(rng.getrandbits(8) for _ in range(200))
    refuse(write_header(tmp_path / "noise.safetensors", header, b"\0" * 64))


@pytest.mark.parametrize("header", [
    b"[1, 2, 3]",
    b"42",
    b'"text"',
    b"{not json",
    b"\xff\xfe\xfd",
    b'{"__metadata__": "text"}',
    b'{"__metadata__": null}',
    b'{"__metadata__": {"brushwork": 7}}',
    b'{"__metadata__": {"brushwork": {"format_version": 1}}}',
    b'{"__metadata__": {"brushwork": "{broken json"}}',
    b'{"__metadata__": {"brushwork": "{\\"format_version\\": 1}"}, "w": 5}',
    b'{"__metadata__": {"brushwork": "{\\"format_version\\": 1}"}, '
    b'"w": {"dtype": "F16", "shape": [4], "data_offsets": [0, 800]}}',
    b'{"__metadata__": {"brushwork": "{\\"format_version\\": 1}"}, '
    b'"w": {"dtype": "NOPE", "shape": [1], "data_offsets": [0, 2]}}',
], ids=lambda h: h.decode("latin-1")[:40])
def test_malformed_headers(tmp_path, header):
    refuse(write_header(tmp_path / "bad.safetensors", header, b"\0" * 16))


def test_header_length_beyond_the_limit(tmp_path):
    path = tmp_path / "big.safetensors"
    path.write_bytes((1 << 40).to_bytes(8, "little") + b"{}")
    refuse(path, match="bad header")


# ----------------------------------------------------------------------------- bad metadata


@pytest.mark.parametrize("metadata", [None, {"other": "tool"}], ids=["none", "foreign"])
def test_safetensors_without_brushwork_metadata(tmp_path, tiny_network, metadata):
    path = tmp_path / "plain.safetensors"
    path.write_bytes(save_safetensors_bytes(fp16_state(tiny_network), metadata=metadata))
    refuse(path, match="without Brushwork metadata")


def test_newer_format_version(tmp_path, tiny_network, tiny_metadata):
    path = write_raw(tmp_path / "future.safetensors", fp16_state(tiny_network),
                     document(tiny_metadata, format_version=FORMAT_VERSION + 1))
    error = refuse(path, match="upgrade")
    assert str(FORMAT_VERSION + 1) in str(error)


@pytest.mark.parametrize("version", [None, 0, -1, "1", 1.5, [1]])
def test_invalid_format_version(tmp_path, tiny_network, tiny_metadata, version):
    doc = document(tiny_metadata, format_version=version)
    if version is None:
        del doc["format_version"]
    path = write_raw(tmp_path / "model.safetensors", fp16_state(tiny_network), doc)
    refuse(path, match="format_version")


@pytest.mark.parametrize("architecture", ["resnet", "", None, 3, ["mtnet"]])
def test_unknown_or_missing_architecture(tmp_path, tiny_network, tiny_metadata, architecture):
    doc = document(tiny_metadata, architecture=architecture)
    if architecture is None:
        del doc["architecture"]
    path = write_raw(tmp_path / "model.safetensors", fp16_state(tiny_network), doc)
    error = refuse(path, match="architecture")
    if architecture == "resnet":
        assert "mtnet" in str(error)  # lists the known ones


@pytest.mark.parametrize("network", [
    [4, 8],
    "mtnet",
    {"style_rgb": [-4, 8, 8]},
    {"style_rgb": [4, 8], "style_l": [2, 4, 4]},
    {"refine": []},
    {"style_rgb": "abc"},
    {"residual_blocks": "three"},
    {"refine": [4.5, 4, 4]},
    {"refine": [0, 4, 4]},
    {"refine": [[4], 4, 4]},
    {"refine": {"a": 4}},
    {"residual_blocks": None},
], ids=str)
@pytest.mark.filterwarnings("ignore:Initializing zero-element tensors")
def test_invalid_network_configuration(tmp_path, tiny_network, tiny_metadata, network):
    path = write_raw(tmp_path / "model.safetensors", fp16_state(tiny_network),
                     document(tiny_metadata, network=network))
    refuse(path)


# ------------------------------------------------------------------------------ bad tensors


def _tampered(tmp_path, tiny_network, tiny_metadata, change) -> Path:
    tensors = fp16_state(tiny_network)
    change(tensors)
    return write_raw(tmp_path / "model.safetensors", tensors, document(tiny_metadata))


def _first(tensors: dict) -> str:
    return sorted(tensors)[0]


def test_wrong_tensor_shape(tmp_path, tiny_network, tiny_metadata):
    def change(tensors):
        name = _first(tensors)
        tensors[name] = torch.zeros(tensors[name].numel() + 1, dtype=torch.float16)

    path = _tampered(tmp_path, tiny_network, tiny_metadata, change)
    error = refuse(path, match="shape")
    assert _first(tiny_network.state_dict()) in str(error)


def test_transposed_tensor_same_size(tmp_path, tiny_network, tiny_metadata):
    weights = [k for k, v in tiny_network.state_dict().items()
               if v.dim() == 4 and v.shape[0] != v.shape[1]]

    def change(tensors):
        tensors[weights[0]] = tensors[weights[0]].transpose(0, 1)

    refuse(_tampered(tmp_path, tiny_network, tiny_metadata, change), match="shape")


def test_missing_tensor(tmp_path, tiny_network, tiny_metadata):
    name = _first(tiny_network.state_dict())
    path = _tampered(tmp_path, tiny_network, tiny_metadata, lambda t: t.pop(name))
    error = refuse(path, match="1 missing")
    assert name in str(error)


def test_extra_tensor(tmp_path, tiny_network, tiny_metadata):
    def change(tensors):
        tensors["style.surprise.weight"] = torch.zeros(3, dtype=torch.float16)

    error = refuse(_tampered(tmp_path, tiny_network, tiny_metadata, change),
                   match="1 unexpected")
    assert "style.surprise.weight" in str(error)


def test_no_tensors_at_all(tmp_path, tiny_metadata):
    path = tmp_path / "model.safetensors"
    path.write_bytes(save_safetensors_bytes(
        {}, metadata={"brushwork": json.dumps(document(tiny_metadata))}))
    refuse(path, match="missing")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_tensor(tmp_path, tiny_network, tiny_metadata, value):
    weights = [k for k, v in tiny_network.state_dict().items() if v.dim() == 4]

    def change(tensors):
        tensors[weights[-1]] = tensors[weights[-1]].clone()
        tensors[weights[-1]].view(-1)[3] = value

    error = refuse(_tampered(tmp_path, tiny_network, tiny_metadata, change),
                   match="NaN or infinite")
    assert weights[-1] in str(error)


def test_nan_written_by_save_model_is_caught_on_load(tmp_path, tiny_network, tiny_metadata):
    with torch.no_grad():
        next(tiny_network.parameters()).fill_(float("nan"))
    path = tmp_path / "nan.safetensors"
    save_model(path, tiny_network, tiny_metadata)
    refuse(path, match="NaN")


def test_value_overflowing_float16_is_caught_on_load(tmp_path, tiny_network, tiny_metadata):
    # 1e6 is finite in float32 but becomes inf when saved as float16.
    with torch.no_grad():
        next(tiny_network.parameters()).view(-1)[0] = 1e6
    path = tmp_path / "big.safetensors"
    save_model(path, tiny_network, tiny_metadata)
    refuse(path, match="infinite")


def test_load_state_into_leaves_the_network_untouched_on_error(tiny_network, tiny_config):
    target = MTNet(tiny_config)
    before = {k: v.clone() for k, v in target.state_dict().items()}
    tensors = {k: v.float() for k, v in fp16_state(tiny_network).items()}
    tensors[_first(tensors)] = torch.full_like(tensors[_first(tensors)], float("nan"))
    with pytest.raises(BrushworkError):
        load_state_into(target, tensors, "test")
    after = target.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)



def test_the_shipped_model_in_default_precision_stays_within_35_db_of_float32():
    """The speed levers (bfloat16) keep the real built-in model's painting at a PSNR of at
    least 35 dB against float32."""
    import numpy as np
    from PIL import Image

    photo = Image.open(Path(__file__).parents[1] / "docs" / "samples" / "giraffe.jpg")
    exact = load_model("starry-night", device="cpu", precision="float32").stylize(photo, 512)
    fast = load_model("starry-night", device="cpu", precision="bfloat16").stylize(photo, 512)
    a, b = (np.asarray(image, dtype=np.float64) for image in (exact, fast))
    assert 10 * np.log10(255**2 / np.mean((a - b) ** 2)) >= 35


def test_flipped_bits_in_the_weights_are_refused(tiny_model_file):
    data = tiny_model_file.read_bytes()
    data_start = 8 + int.from_bytes(data[:8], "little")
    rng = random.Random(8)
    for _ in range(10):
        damaged = bytearray(data)
        position = rng.randrange(data_start, len(data))
        damaged[position] ^= 1 << rng.randrange(8)
        tiny_model_file.write_bytes(bytes(damaged))
        refuse(tiny_model_file, "damaged")


def test_flipped_bits_anywhere_never_crash(tiny_model_file):
    data = tiny_model_file.read_bytes()
    rng = random.Random(9)
    for _ in range(20):
        damaged = bytearray(data)
        damaged[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        tiny_model_file.write_bytes(bytes(damaged))
        # Refused with a message, or (a flip in the header's free text) loaded: never a crash.
        with contextlib.suppress(BrushworkError):
            read_model_file(tiny_model_file)


def test_a_header_with_a_huge_number_of_entries_is_refused(tmp_path):
    entries = ", ".join(f'"t{i}": {{"dtype": "F16", "shape": [0], "data_offsets": [0, 0]}}'
                        for i in range(60_000))
    header = ('{"__metadata__": {"brushwork": "{\\"format_version\\": 1}"}, ' + entries + "}")
    refuse(write_header(tmp_path / "many.safetensors", header.encode()))


@pytest.mark.parametrize("dtype", [torch.int32, torch.float64, torch.uint8, torch.bool])
def test_weights_of_a_non_float_or_unexpected_dtype_are_refused(tmp_path, tiny_network, dtype):
    tensors = {n: t.detach().to(dtype) for n, t in tiny_network.state_dict().items()}
    path = tmp_path / "odd.safetensors"
    metadata = {"brushwork": json.dumps(
        {"format_version": FORMAT_VERSION, "architecture": "mtnet",
         "network": tiny_network.config.to_dict()})}
    path.write_bytes(save_safetensors_bytes(tensors, metadata=metadata))
    refuse(path, "model weights are float16")


def test_a_header_length_whose_first_byte_is_0x80_is_not_taken_for_a_pickle(
        tmp_path, tiny_network, tiny_metadata):
    # Pickles start with 0x80; so does a safetensors file whose header length is 128 mod 256
    # (one model in 256). Pad the metadata until that happens, then load it.
    for pad in range(300):
        path = tmp_path / "model.safetensors"
        save_model(path, tiny_network, {**tiny_metadata, "note": "x" * pad})
        if path.read_bytes()[0] == 0x80:
            break
    else:
        pytest.fail("no padding gave a header length of 128 mod 256")
    tensors, _ = read_model_file(path)
    assert set(tensors) == set(tiny_network.state_dict())


# ------------------------------------------------------------------- hostile architectures
#
# A model file's header says what network to build. It used to be built at whatever
# size it asked for, before the weights were looked at: a 168-byte file asking for
# ``style_rgb: [32, 64, 1536]`` allocated ~1 GB. Every file below is refused, through
# ``load_model`` (what the CLI and the server call too), with the process's peak memory
# rising by less than ``HOSTILE_RSS_BOUND`` (measured: the peak RSS is reset first).

WIDE = [512] * 6  # every width and count at its bound: allowed field by field, huge in all


def _nested(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


#: What each refusal must say: the field out of range, not a number, too many widths, a network
#: too large in all, or nesting.
RANGE, WHOLE, COUNT, SIZE, NEST = ("outside the range", "whole number", "widths; Brushwork "
                                   "builds", "parameters", "nested")
#: case -> (what the refusal says, architecture, network configuration)
HOSTILE = {
    # MT-Net (the issue's file first)
    "mtnet style_rgb [32, 64, 1536]": (RANGE, "mtnet", {"style_rgb": [32, 64, 1536]}),
    "mtnet enhance_rgb a width of 100,000": (RANGE, "mtnet",
                                             {"enhance_rgb": [32, 64, 128, 100_000]}),
    "mtnet refine a width of 1e9": (RANGE, "mtnet", {"refine": [10**9, 4, 4]}),
    "mtnet a width of 2**64": (RANGE, "mtnet", {"refine": [2**64, 4, 4]}),
    "mtnet a 400-digit width": (RANGE, "mtnet", {"refine": [10**400, 4, 4]}),
    "mtnet a million residual blocks": (RANGE, "mtnet", {"residual_blocks": 10**6}),
    "mtnet 1e12 residual blocks": (RANGE, "mtnet", {"residual_blocks": 10**12}),
    "mtnet residual blocks as a float": (WHOLE, "mtnet", {"residual_blocks": 1e9}),
    "mtnet residual blocks true": (WHOLE, "mtnet", {"residual_blocks": True}),
    "mtnet 1,000 widths per branch": (COUNT, "mtnet", {"style_rgb": [4] * 1000,
                                                       "style_l": [2] * 1000}),
    "mtnet 64 downsamplings": (COUNT, "mtnet", {"refine": [4] * 64}),
    "mtnet every field at its bound": (SIZE, "mtnet", {
        "style_rgb": WIDE, "style_l": WIDE, "enhance_rgb": WIDE, "enhance_l": WIDE,
        "refine": WIDE, "residual_blocks": 16}),
    "mtnet a width nested 500 deep": (NEST, "mtnet",
                                      {"style_rgb": [_nested(500), 64, 128]}),
    # the baselines
    "johnson a width of a million": (RANGE, "johnson", {"widths": [32, 64, 10**6]}),
    "johnson ten million residual blocks": (RANGE, "johnson", {"residual_blocks": 10**7}),
    "johnson 64 widths": (COUNT, "johnson", {"widths": [8] * 64}),
    "johnson 512-wide with 16 blocks": (SIZE, "johnson", {"widths": WIDE[:3],
                                                          "residual_blocks": 16}),
    "texture-net a million scales": (RANGE, "texture-net", {"scales": 10**6}),
    "texture-net 64 scales": (RANGE, "texture-net", {"scales": 64}),
    "texture-net width a million": (RANGE, "texture-net", {"width": 10**6}),
    "texture-net 8 scales of width 512": (SIZE, "texture-net", {"scales": 8, "width": 512}),
    "singular style_rgb 8192": (RANGE, "singular", {"style_rgb": [8192, 8192, 8192],
                                                    "style_l": [2, 4, 4]}),
    "singular a million residual blocks": (RANGE, "singular", {"residual_blocks": 10**6}),
    "ds-net refine 65536": (RANGE, "ds-net", {"refine": [65536, 4, 4]}),
    "ds-net every field at its bound": (SIZE, "ds-net", {
        "style_rgb": WIDE, "style_l": WIDE, "enhance_rgb": WIDE, "enhance_l": WIDE,
        "refine": WIDE, "residual_blocks": 16}),
}


def hostile_file(path: Path, document_text: str, tensors: dict | None = None) -> Path:
    """A model file whose brushwork metadata is ``document_text`` (a few hundred bytes)."""
    path.write_bytes(save_safetensors_bytes(tensors or {},
                                            metadata={"brushwork": document_text}))
    return path


def test_there_are_at_least_20_hostile_architectures():
    assert len(HOSTILE) >= 20


@dataclass
class HostileOutcome:
    """What loading one of the HOSTILE files did (for the test and for the report)."""

    case: str
    file_bytes: int
    message: str  # the refusal ("" if it loaded)
    growth: int  # peak RSS growth, bytes
    seconds: float

    def problems(self) -> list[str]:
        reason = HOSTILE[self.case][0]
        found = []
        if not self.message:
            found.append("loaded")
        elif reason not in self.message:
            found.append(f"refused for another reason than {reason!r}")
        if "\n" in self.message or len(self.message) > 400:
            found.append("not a short one-line message")
        if self.growth >= HOSTILE_RSS_BOUND:
            found.append(f"peak RSS rose by {self.growth / 2**20:.0f} MiB")
        if self.seconds >= 10:
            found.append(f"took {self.seconds:.1f} s")
        return found


def refuse_hostile(case: str, folder: Path) -> HostileOutcome:
    """Write ``HOSTILE[case]`` as a model file in ``folder`` and load it with ``load_model``
    (what the CLI and the server call), measuring the process's peak memory."""
    _, arch, network = HOSTILE[case]
    doc = {"format_version": FORMAT_VERSION, "architecture": arch, "network": network}
    path = hostile_file(folder / "hostile.safetensors", json.dumps(doc))
    messages: list[str] = []

    def attempt() -> None:
        try:
            load_model(path, device="cpu")
            messages.append("")
        except BrushworkError as error:
            messages.append(str(error).replace(str(path), "FILE"))

    began = time.monotonic()
    growth = peak_growth(attempt)
    return HostileOutcome(case, path.stat().st_size, messages[0], growth,
                          time.monotonic() - began)


@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_hostile_architecture_is_refused_without_allocating(tmp_path, tiny_model_file, case):
    load_model(tiny_model_file, device="cpu")  # warm up: imports, first allocations
    outcome = refuse_hostile(case, tmp_path)
    assert outcome.file_bytes < 8192  # a few hundred bytes asking for gigabytes
    assert not outcome.problems(), (outcome.problems(), outcome.message)


@pytest.mark.parametrize("where", ["metadata", "header", "network config"])
def test_a_deeply_nested_header_is_refused(tmp_path, where):
    """JSON nested ~100,000 deep is refused, not a RecursionError (a 500 from the server)."""
    deep = "[" * 100_000 + "]" * 100_000
    path = tmp_path / "nested.safetensors"
    if where == "metadata":
        hostile_file(path, deep)
    elif where == "header":
        header = ('{"__metadata__": {"brushwork": "{}"}, "x": ' + deep + "}").encode()
        write_header(path, header)
    else:
        hostile_file(path, '{"format_version": 1, "architecture": "mtnet", "network": '
                           '{"style_rgb": ' + deep + "}}")
    growth = peak_growth(lambda: refuse(path))
    assert growth < HOSTILE_RSS_BOUND
    with pytest.raises(BrushworkError, match=r"nested|not a valid"):
        read_model_file(path)


def test_metadata_nested_deeper_than_the_bound_is_refused(tmp_path, tiny_network,
                                                          tiny_metadata):
    from brushwork.model_files import MAX_METADATA_DEPTH

    path = write_raw(tmp_path / "deep.safetensors", fp16_state(tiny_network),
                     document(tiny_metadata, note=_nested(MAX_METADATA_DEPTH + 1)))
    refuse(path, match="nested")
    shallow = write_raw(tmp_path / "ok.safetensors", fp16_state(tiny_network),
                        document(tiny_metadata, note=_nested(MAX_METADATA_DEPTH - 2)))
    load_model(shallow, device="cpu")


def test_an_architecture_within_bounds_is_checked_against_the_weights_before_it_is_built(
        tmp_path, tiny_network, tiny_metadata, monkeypatch):
    """A plausible configuration with the wrong weights is refused from the plan (meta
    device): the real network is never built."""
    import brushwork.model_files as model_files

    built = []
    real = model_files.build_network
    monkeypatch.setattr(model_files, "build_network",
                        lambda *a, **k: built.append(a) or real(*a, **k))
    config = {**tiny_metadata["network"], "refine": [256, 256, 256], "residual_blocks": 8}
    path = write_raw(tmp_path / "m.safetensors", fp16_state(tiny_network),
                     document(tiny_metadata, network=config))
    refuse(path, match="weights do not match|shape")
    assert built == []


def test_a_long_architecture_name_is_quoted_short(tmp_path):
    doc = {"format_version": FORMAT_VERSION, "architecture": "x" * 1_000_000}
    path = hostile_file(tmp_path / "long.safetensors", json.dumps(doc))
    error = refuse(path, match="unknown architecture")
    assert len(str(error)) < 400 and "1,000,000 characters" in str(error)


def test_the_bounds_admit_every_network_a_recipe_trains():
    """The bounds are the trainer's ranges with a margin: every built-in configuration,
    Fig. 6's deepened singular net included, is planned and built."""
    from brushwork.hyper_parameters import SingularConfig
    from brushwork.networks import ARCHITECTURES, MAX_PARAMETERS, plan_network

    for arch, (_, config_class) in ARCHITECTURES.items():
        plan = plan_network(arch, config_class().to_dict())
        assert 0 < sum(p.numel() for p in plan.parameters()) < MAX_PARAMETERS / 4
    plan_network("singular", SingularConfig.matching_mtnet().to_dict())


def test_the_cli_refuses_the_issues_file_in_one_line(tmp_path, capsys, sample_photo):
    from brushwork.cli import main

    doc = {"format_version": FORMAT_VERSION, "architecture": "mtnet",
           "network": {"style_rgb": [32, 64, 1536]}}
    path = hostile_file(tmp_path / "hostile.safetensors", json.dumps(doc))
    code: list[int] = []
    growth = peak_growth(lambda: code.append(main(
        ["stylize", str(sample_photo), "--model", str(path), "-o", str(tmp_path / "o.jpg"),
         "--device", "cpu", "--quiet"])))
    err = capsys.readouterr().err
    assert code == [1] and len(err.splitlines()) == 1 and "1536" in err, err
    assert growth < HOSTILE_RSS_BOUND


def test_a_model_paints_at_the_coarse_size_its_file_records(tmp_path, painting_network,
                                                            tiny_metadata):
    """A file's ``train.coarse_size`` (the recipe records its training scale) is the schedule
    it paints with unless told otherwise; files without one paint at the paper's 256."""
    from brushwork.hyper_parameters import COARSE_SIZE
    from tests.helpers import make_photo

    default, own = tmp_path / "default.safetensors", tmp_path / "own.safetensors"
    save_model(default, painting_network, tiny_metadata)
    save_model(own, painting_network, {**tiny_metadata, "train": {"coarse_size": 96}})
    plain = load_model(default, device="cpu", precision="float32")
    recorded = load_model(own, device="cpu", precision="float32")
    assert (plain.coarse, recorded.coarse) == (COARSE_SIZE, 96)
    photo = make_photo((300, 200))
    # At 256: the file's 96, 192, 256 instead of the paper's 64, 128, 256.
    assert [im.size[0] for im in recorded.stylize_levels(photo, 256)] == [96, 192, 256]
    assert recorded.stylize(photo, 256).tobytes() == plain.stylize(photo, 256, coarse=96).tobytes()
    assert recorded.stylize(photo, 256).tobytes() != plain.stylize(photo, 256).tobytes()
    assert recorded.stylize(photo, 256, coarse=COARSE_SIZE).tobytes() == plain.stylize(
        photo, 256).tobytes()


@pytest.mark.parametrize("coarse", [0, -5, "256", 1.5, True])
def test_a_bad_recorded_coarse_size_is_refused_at_loading(tmp_path, tiny_network,
                                                          tiny_metadata, coarse):
    path = tmp_path / "bad.safetensors"
    save_model(path, tiny_network, {**tiny_metadata, "train": {"coarse_size": coarse}})
    with pytest.raises(BrushworkError, match="coarse must be a positive number of pixels"):
        load_model(path, device="cpu")
