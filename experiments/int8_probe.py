"""Does int8 pay for the refine subnet, the part that runs at full resolution?

    python -m experiments.int8_probe [--style starry-night] [--sizes 1024 2048] [--runs 3]

The refine subnet of the built-in style (the default, slim network) is exported to ONNX alone,
quantised statically by onnxruntime (QDQ, int8 weights per output channel, uint8 activations,
convolutions only: instance norm, ReLU and the adds stay float32), calibrated on the refine
level's real inputs (the upsampled enhance output of training photos), then timed side by side
with PyTorch's fused float32 forward and onnxruntime's float32 session on the same inputs. The
picture: PSNR of the int8 refine output against float32 on held-back photos at 1024 px.
Prints one table, headed by the machine. Nothing is shipped from here.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import warnings
from pathlib import Path

import torch

from brushwork import benchmark
from brushwork.api import load_model
from brushwork.evaluation import psnr
from brushwork.hierarchy import stylize_tensor
from brushwork.images import load_image, to_tensor
from brushwork.networks.fused import fuse
from experiments.lib.arguments import (
    DEFAULT_DATA,
    DEFAULT_HELD_OUT,
    DEFAULT_PHOTOS,
    held_out_photos,
)


def refine_inputs(model, photos: list[Path], size: int) -> list[torch.Tensor]:
    """What the refine subnet reads when painting each photo at ``size``: y2 upsampled."""
    inputs = []
    captured: list[torch.Tensor] = []
    hook = model.inference.refine.register_forward_pre_hook(
        lambda module, args: captured.append(args[0].detach().clone()))
    try:
        for path in photos:
            captured.clear()
            with torch.inference_mode():
                stylize_tensor(model.inference, to_tensor(load_image(path)), size)
            inputs.append(captured[0].contiguous())
    finally:
        hook.remove()
    return inputs


def export(refine: torch.nn.Module) -> bytes:
    buffer = io.BytesIO()
    axes = {0: "n", 2: "height", 3: "width"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(refine, (torch.rand(1, 3, 64, 96),), buffer, dynamo=False,
                          input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": axes, "y": axes}, opset_version=17)
    return buffer.getvalue()


def quantise(model_bytes: bytes, calibration: list[torch.Tensor]) -> bytes:
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter([{"x": x.numpy()} for x in calibration])

        def get_next(self):
            return next(self.items, None)

    with tempfile.TemporaryDirectory() as folder:
        source, target = Path(folder) / "f32.onnx", Path(folder) / "int8.onnx"
        source.write_bytes(model_bytes)
        quantize_static(str(source), str(target), Reader(), quant_format=QuantFormat.QDQ,
                        per_channel=True, weight_type=QuantType.QInt8,
                        activation_type=QuantType.QUInt8, op_types_to_quantize=["Conv"])
        return target.read_bytes()


def session(model_bytes: bytes):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    return onnxruntime.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--style", default="starry-night")
    parser.add_argument("--width", default="slim", choices=("slim", "full"))
    parser.add_argument("--sizes", nargs="+", type=int, default=[1024, 2048])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    print(benchmark.format_machine(benchmark.machine_description(torch.device("cpu"))))
    model = load_model(args.style, device="cpu", precision="float32", width=args.width)
    refine = model.network.refine.float().to(memory_format=torch.contiguous_format)
    train = sorted(DEFAULT_DATA.glob("*.jpg"))[:8]
    held = held_out_photos(DEFAULT_HELD_OUT, DEFAULT_PHOTOS, 5)
    f32_bytes = export(refine)
    int8_bytes = quantise(f32_bytes, refine_inputs(model, train, 1024))
    f32, int8 = session(f32_bytes), session(int8_bytes)
    quality = []
    for x in refine_inputs(model, held, 1024):
        int8_y, f32_y = (torch.from_numpy(s.run(["y"], {"x": x.numpy()})[0]).clamp(0, 1)
                         for s in (int8, f32))
        quality.append(psnr(int8_y, f32_y))
    model.network.refine.to(memory_format=torch.channels_last)  # as prepared, if chosen
    model.inference = fuse(model.network)
    print(f"int8 refine output vs float32 on {len(held)} held-back photos at 1024 px: PSNR "
          f"{min(quality):.1f}-{max(quality):.1f} dB (median {statistics.median(quality):.1f})")
    print("| input | torch fused f32 | onnxruntime f32 | onnxruntime int8 | int8 / torch |")
    print("|---|---|---|---|---|")
    for size in args.sizes:
        x = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0))
        array = x.numpy()

        def torch_run(x=x) -> None:
            with torch.inference_mode():
                model.inference.refine(x)

        cases = {"torch": torch_run,
                 "f32": lambda a=array: f32.run(["y"], {"x": a}),
                 "int8": lambda a=array: int8.run(["y"], {"x": a})}
        t = {k: statistics.median(v)
             for k, v in benchmark.measure_times(cases, args.runs, 1).items()}
        print(f"| {size}x{size} | {t['torch']:.3f} s | {t['f32']:.3f} s | {t['int8']:.3f} s | "
              f"{t['int8'] / t['torch']:.2f}x |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
