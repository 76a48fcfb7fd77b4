"""Choose between equivalent ways of computing something by timing them on this machine.

Inference has several exact rewrites (channels-last or contiguous activations, reflection
padding by a padded copy or by zero padding plus recomputed border strips, a resize-convolution
as one transposed convolution). Which is faster depends on the CPU's instruction set, the
oneDNN kernels PyTorch picks there and the layer's shape: on a 2-core AVX-512 BF16 EPYC the
strips saved time, on a 2-core AVX2 EPYC the same 9x9 convolution was 2x slower with them and
painting 2048 px took 65 s instead of 7.7 s (docs/performance.md). So no rewrite is chosen by
assumption: each question is answered once per machine by a short measurement, and the answer
is cached in a JSON file keyed by everything that can change it (CPU model and flags, PyTorch
version, threads, the ``ONEDNN_MAX_CPU_ISA`` / ``ATEN_CPU_CAPABILITY`` overrides).

The cache lives in ``$BRUSHWORK_CACHE`` (default ``~/.cache/brushwork``); an unreadable or
unwritable cache only costs a re-measurement, never an error.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import platform
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import torch

from .images import atomic_write

#: Timed rounds after one warm-up, candidates interleaved: at least REPEATS, then more until
#: each candidate has run MIN_SECONDS in all, at most MAX_REPEATS; the fastest run of each
#: decides, the one least disturbed by other work (ours: two rounds with the median at a
#: 128 px probe, ~1 ms a run, once picked the upsampled resize-convolution that is 2.5x
#: slower on an AVX-512 BF16 EPYC).
REPEATS = 2
MIN_SECONDS = 0.05
MAX_REPEATS = 25
#: Part of the machine key: answers measured by an older procedure are measured again.
PROCEDURE = "2"
#: Environment variables that change which kernels PyTorch runs.
KERNEL_ENVIRONMENT = ("ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY", "OMP_NUM_THREADS")

_LOCK = threading.RLock()  # a measurement may ask a nested question


def cache_file() -> Path:
    root = os.environ.get("BRUSHWORK_CACHE") or Path.home() / ".cache" / "brushwork"
    return Path(root) / "kernel-choices.json"


@functools.cache
def cpu_features() -> dict[str, object]:
    """The CPU's model name and the instruction sets that decide PyTorch's kernels."""
    name, flags = "", set[str]()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and not name:
                name = line.split(":", 1)[1].strip()
            elif line.startswith(("flags", "Features")) and not flags:
                flags = set(line.split(":", 1)[1].split())
    name = name or platform.processor() or platform.machine()
    isa = [label for label, flag in (("AVX2", "avx2"), ("AVX-512", "avx512f"),
                                     ("BF16", "avx512_bf16"), ("AMX", "amx_bf16"),
                                     ("NEON", "asimd")) if flag in flags]
    return {"model": name, "isa": isa, "capability": torch.backends.cpu.get_cpu_capability()}


def machine_key() -> str:
    """What a cached answer is valid for: this CPU, PyTorch build, thread count and overrides
    (read again on each call: a process may change its threads or environment)."""
    features = cpu_features()
    parts = [PROCEDURE, str(features["model"]), ",".join(features["isa"]),  # type: ignore[arg-type]
             str(torch.backends.cpu.get_cpu_capability()), torch.__version__,
             f"threads={torch.get_num_threads()}"]
    parts += [f"{k}={os.environ.get(k, '')}" for k in KERNEL_ENVIRONMENT]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def _read() -> dict[str, dict[str, str]]:
    try:
        data = json.loads(cache_file().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write(data: dict[str, dict[str, str]]) -> None:
    path = cache_file()
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda file: file.write(json.dumps(data, indent=1).encode()))


def cached_choice(question: str) -> str | None:
    return _read().get(machine_key(), {}).get(question)


def probe_image(channels: int, height: int, width: int,
                device: torch.device | str = "cpu") -> torch.Tensor:
    """A fixed random (1, channels, height, width) input for a measurement, drawn from its own
    generator so that measuring never moves the global random state."""
    generator = torch.Generator().manual_seed(0)
    return torch.rand(1, channels, height, width, generator=generator).to(device)


def measure(candidates: Mapping[str, Callable[[], object]],
            repeats: int = REPEATS) -> dict[str, float]:
    """Fastest seconds of each candidate, run interleaved after one warm-up each, for at
    least ``repeats`` rounds and until each has run MIN_SECONDS (at most MAX_REPEATS rounds;
    on a GPU, to the end of its queued work: CUDA calls return before they finish)."""
    for run in candidates.values():
        run()
    times: dict[str, list[float]] = {name: [] for name in candidates}
    rounds = 0
    while rounds < max(repeats, 1) or (
            rounds < MAX_REPEATS and min(map(sum, times.values())) < MIN_SECONDS):
        for name, run in candidates.items():
            _synchronise()
            started = time.perf_counter()
            run()
            _synchronise()
            times[name].append(time.perf_counter() - started)
        rounds += 1
    return {name: min(values) for name, values in times.items()}


#: Called once per process, with the cache file's path, before the first measurement (the
#: command line tells the user why the first painting on a new machine takes longer).
on_first_measurement: Callable[[Path], None] | None = None
_announced = False

#: Answers already looked up in this process: the hot path (every layer of every painting
#: asks its question) must not read a file or build a probe.
_ANSWERS: dict[tuple[str, str], str] = {}


def _synchronise() -> None:
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def choose(question: str, candidates: Callable[[], Mapping[str, Callable[[], object]]],
           repeats: int = REPEATS) -> str:
    """The name of the fastest candidate for ``question`` on this machine.

    Answered from memory or the cache file when this machine has answered it before;
    otherwise ``candidates()`` builds the contenders (their probe inputs are only made then),
    every one is timed (``measure``) and the answer stored. The candidates must compute the
    same thing: this only picks how.
    """
    key = (machine_key(), question)
    answer = _ANSWERS.get(key)
    if answer is not None:
        return answer
    with _LOCK:
        answer = cached_choice(question)
        if answer is None:
            _announce()
            contenders = candidates()
            if not contenders:
                raise ValueError("nothing to choose from")
            times = measure(contenders, repeats)
            answer = min(times, key=times.__getitem__)
            data = _read()
            data.setdefault(key[0], {})[question] = answer
            _write(data)
        _ANSWERS[key] = answer
        return answer


def _announce() -> None:
    global _announced
    if not _announced and on_first_measurement is not None:
        _announced = True
        on_first_measurement(cache_file())


def forget() -> None:
    """Drop the answers remembered in this process (tests; a changed cache file)."""
    _ANSWERS.clear()
