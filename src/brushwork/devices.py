"""Device choice and mixed precision, so no other module hard-codes ``.cuda()``."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import sys
from pathlib import Path

import torch

from .errors import BrushworkError

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA when present, else the CPU; ``cuda`` without a GPU is an error."""
    if name not in DEVICES and not name.startswith("cuda:"):
        raise BrushworkError(f"unknown device {name!r}; use one of {', '.join(DEVICES)}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise BrushworkError("--device cuda was asked for, but PyTorch sees no CUDA GPU")
    return torch.device(name)


@functools.cache
def _cpu_has_bf16() -> bool:
    """True when the CPU computes bf16 natively (AVX-512 BF16 or AMX); emulated bf16 is slow."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def processor_name(device: torch.device) -> str:
    """What a number was measured on, for a model's training record and the style cards: the
    GPU's name, or the CPU's model name, core count and whether it has native bf16 (the
    CPU changes between sessions, and bf16 trains ~3.5x faster: docs/performance.md)."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    name = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{name or 'CPU'}, {cores} cores" + _widest_vector_unit()


def _widest_vector_unit() -> str:
    """", AVX-512 BF16", ", AVX-512", ", AVX2" or "": what sets a CPU's speed here."""
    if _cpu_has_bf16():
        return ", AVX-512 BF16"
    with contextlib.suppress(OSError):
        flags = Path("/proc/cpuinfo").read_text()
        for flag, label in ((" avx512f", ", AVX-512"), (" avx2", ", AVX2")):
            if flag in flags:
                return label
    return ""


#: ``ONEDNN_MAX_CPU_ISA`` values (and those above them) whose kernels compute bf16 natively.
_BF16_ISAS = ("BF16", "AMX", "FP16", "AVX10")


def _kernels_capped_below_bf16() -> bool:
    """True when the environment holds PyTorch's kernels below the CPU's bf16 instructions
    (``ONEDNN_MAX_CPU_ISA=AVX2`` or ``ATEN_CPU_CAPABILITY=avx2``, as when an AVX-512 machine
    stands in for an AVX2 one): bf16 is then emulated, and slow, as on that CPU."""
    isa = os.environ.get("ONEDNN_MAX_CPU_ISA", "").upper()
    aten = os.environ.get("ATEN_CPU_CAPABILITY", "").lower()
    capped_isa = isa not in ("", "ALL", "DEFAULT") and not any(b in isa for b in _BF16_ISAS)
    return capped_isa or aten in ("default", "avx2")


def mixed_precision_supported(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and _cpu_has_bf16() and not _kernels_capped_below_bf16()


def autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    """bf16 autocast on ``device`` when ``enabled``, else a no-op context."""
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


@functools.cache
def keep_cpu_buffers_allocated() -> bool:
    """Make glibc keep freed memory for reuse instead of returning it to the OS (Linux).

    A training iteration allocates the same few hundred MB of activation buffers every time.
    glibc serves each block over 32 MB with its own mmap and unmaps it on free, so every
    iteration page-faults (and zeroes) them all again: 1.6 s of kernel time per 512-px
    iteration on the 2-core CPU. With mmap off and no trimming, the buffers are reused:
    measured 5.0 -> 4.2 s per iteration, for ~0.6 GB more resident memory (docs/performance.md).
    Process-wide and permanent, so only long-running training calls it, never inference in a
    server. Returns whether it took effect (False off glibc).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    m_trim_threshold, m_mmap_max = -1, -4
    return bool(mallopt(m_mmap_max, 0)) and bool(mallopt(m_trim_threshold, 2**31 - 1))
