"""The chooser of inference rewrites: the faster stand-in wins, answers are cached per machine."""

from __future__ import annotations

import json
import time

import pytest
import torch

from brushwork import kernel_choice
from brushwork.api import channels_last_pays
from brushwork.networks.multimodal import MTNet


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BRUSHWORK_CACHE", str(tmp_path))
    kernel_choice.forget()
    yield tmp_path / "kernel-choices.json"
    kernel_choice.forget()


def stand_ins(slow: str, calls: list[str]):
    def run(name: str):
        def call() -> None:
            calls.append(name)
            time.sleep(0.02 if name == slow else 0.0)
        return call
    return lambda: {"a": run("a"), "b": run("b")}


@pytest.mark.parametrize("slow", ["a", "b"])
def test_the_faster_of_two_stand_ins_is_chosen_and_cached(cache, slow):
    calls: list[str] = []
    fast = "b" if slow == "a" else "a"
    assert kernel_choice.choose("question", stand_ins(slow, calls)) == fast
    assert calls.count("a") == calls.count("b") >= 1 + kernel_choice.REPEATS
    stored = json.loads(cache.read_text())
    assert stored == {kernel_choice.machine_key(): {"question": fast}}
    calls.clear()
    assert kernel_choice.choose("question", stand_ins(fast, calls)) == fast  # not re-measured
    kernel_choice.forget()
    assert kernel_choice.choose("question", stand_ins(fast, calls)) == fast  # from the file
    assert calls == []


def test_another_machine_or_override_measures_again(cache, monkeypatch):
    calls: list[str] = []
    kernel_choice.choose("question", stand_ins("a", calls))
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")  # PyTorch would run other kernels
    calls.clear()
    assert kernel_choice.choose("question", stand_ins("b", calls)) == "a"
    assert calls
    assert len(json.loads(cache.read_text())) == 2


def test_an_unreadable_or_unwritable_cache_only_costs_a_measurement(cache, tmp_path,
                                                                     monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("BRUSHWORK_CACHE", str(blocker))
    assert kernel_choice.choose("q", stand_ins("a", [])) == "b"
    monkeypatch.setenv("BRUSHWORK_CACHE", str(tmp_path))
    kernel_choice.forget()
    (tmp_path / "kernel-choices.json").write_text("{not json")
    assert kernel_choice.choose("q", stand_ins("b", [])) == "a"


def test_the_cpu_is_described_by_its_instruction_sets():
    features = kernel_choice.cpu_features()
    assert set(features["isa"]) <= {"AVX2", "AVX-512", "BF16", "AMX", "NEON"}
    assert features["capability"] == torch.backends.cpu.get_cpu_capability()


def test_measuring_leaves_the_global_random_state_alone(cache, tiny_network):
    before = torch.get_rng_state()
    channels_last_pays(tiny_network, torch.device("cpu"))
    assert torch.equal(before, torch.get_rng_state())


def test_the_layout_choice_leaves_the_network_computing_the_same(cache, tiny_config):
    """Whatever the measurement says, the painting is the same function."""
    net = MTNet(tiny_config).eval()
    photo = torch.rand(1, 3, 64, 96, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        before = net(photo)[-1]
        net.to(memory_format=torch.channels_last)
        after = net(photo.contiguous(memory_format=torch.channels_last))[-1]
    torch.testing.assert_close(after, before, rtol=0, atol=1e-4)  # summation order only
    assert isinstance(channels_last_pays(net, torch.device("cpu")), bool)


@pytest.mark.parametrize(("isa", "aten", "capped"), [
    ("", "", False), ("ALL", "", False), ("AVX512_CORE_BF16", "", False),
    ("AVX10_1_512_AMX", "", False), ("AVX2", "", True), ("AVX512_CORE", "", True),
    ("", "avx2", True), ("", "avx512", False),
])
def test_an_isa_cap_below_bf16_means_no_native_bf16(isa, aten, capped, monkeypatch):
    """An AVX-512 BF16 machine held to AVX2 (ONEDNN_MAX_CPU_ISA / ATEN_CPU_CAPABILITY) paints
    and trains as an AVX2 CPU would: float32 by default, bf16 reported as not native."""
    from brushwork import devices

    for name, value in (("ONEDNN_MAX_CPU_ISA", isa), ("ATEN_CPU_CAPABILITY", aten)):
        if value:
            monkeypatch.setenv(name, value)
        else:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(devices, "_cpu_has_bf16", lambda: True)
    assert devices.mixed_precision_supported(torch.device("cpu")) is not capped
