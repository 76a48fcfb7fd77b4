"""Adam's effective step with PyTorch's default output layers and with ours.

    python -m experiments.adam_stall --iterations 60          # ~4 min on a 2-core CPU

Builds MT-Net twice from the same seed; in the "default" arm the RGB output convolution of
each subnet is re-initialised as PyTorch does (``reset_parameters``), i.e. the network as it was
before its output layers started flat; the "ours" arm keeps the library's start-up
(``OUTPUT_INIT_GAIN``). Both train on the same crops with the default loss and schedule
(``training.training_step``), and per iteration the script records:

* the gradient norm of each subnet;
* ``sqrt(v_hat) / |g|``: Adam's second-moment estimate (bias-corrected) over the current
  gradient's RMS, median over parameter tensors. 1 means Adam divides by today's gradient
  size; ~1,000 means it divides by a spike it remembers, so its step is ~1,000x too small;
* the RMS parameter change of the step divided by the learning rate (1 is a full Adam step).

Writes ``docs/training-stall.json`` and prints a markdown table. ``--write-default-init``
writes the "before" network as a model file, so that a whole training run can start from it
with ``brushwork train --init-from`` (docs/training-stall.md has both runs).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import torch

from brushwork.data import PhotoStream, list_images
from brushwork.devices import keep_cpu_buffers_allocated, mixed_precision_supported
from brushwork.hyper_parameters import (
    CONTENT_LAYER,
    TEXTURE_LAYERS,
    LossConfig,
    TrainConfig,
)
from brushwork.images import load_image, to_tensor
from brushwork.losses.perceptual import HierarchicalLoss
from brushwork.losses.vgg import build_vgg
from brushwork.model_files import save_model
from brushwork.networks.multimodal import MTNet
from brushwork.training import adam_memory_ratio, texture_scale, training_step
from experiments.lib.arguments import DEFAULT_DATA, DEFAULT_STYLES, REPO, log
from experiments.lib.reports import provenance

SHOWN = (1, 2, 3, 5, 10, 20, 30, 40, 60, 100, 150, 200)


def default_output_layers(net: MTNet) -> None:
    """Undo the start-up: PyTorch's default initialisation of each subnet's output conv."""
    for subnet in net.subnets:
        head = subnet.conv_block if hasattr(subnet, "conv_block") else subnet.decoder
        convs = [m for m in head[-1].modules() if isinstance(m, torch.nn.Conv2d)]
        convs[-1].reset_parameters()


def run_arm(arm: str, args: argparse.Namespace, style: torch.Tensor) -> list[dict]:
    config = TrainConfig()
    torch.manual_seed(config.seed)
    net = MTNet()
    if arm == "default":
        default_output_layers(net)
    vgg = build_vgg((*TEXTURE_LAYERS, CONTENT_LAYER))
    criterion = HierarchicalLoss(vgg, [style] * 3, LossConfig())
    optimizer = torch.optim.Adam(net.parameters(), lr=config.learning_rate)
    photos = PhotoStream(list_images(args.data), config.crop_size, config.seed,
                         photo_size=config.photo_size)
    sizes = MTNet.training_sizes(config.crop_size)
    bf16 = mixed_precision_supported(torch.device("cpu"))
    params = list(net.parameters())
    rows = []
    for iteration in range(1, args.iterations + 1):
        before = [p.detach().clone() for p in params]
        scale = texture_scale(iteration, config.texture_warmup)

        total, levels = training_step(net, criterion, optimizer, next(photos), sizes, bf16,
                                      scale)
        grad_norms = [math.sqrt(sum(float(p.grad.float().pow(2).sum())
                                    for p in s.parameters() if p.grad is not None))
                      for s in net.subnets]
        moved = torch.cat([(p.detach() - b).flatten() for p, b in zip(params, before)])
        step_rms = float(moved.pow(2).mean().sqrt()) / config.learning_rate
        rows.append({
            "iteration": iteration, "loss": float(total.detach()), "grad_norm": grad_norms,
            "adam_ratio_median": adam_memory_ratio(optimizer),
            "step_rms_over_lr": step_rms,
            "content": [float(level.content) for level in levels],
        })
        if iteration in SHOWN or iteration == args.iterations:
            log(f"{arm} {iteration}: {json.dumps(rows[-1])}")
    return rows


def table(results: dict[str, list[dict]]) -> str:
    lines = ["| iteration | style-subnet grad norm, default / ours | sqrt(v_hat)/abs(g), "
             "default / ours | RMS step / lr, default / ours |", "|---|---|---|---|"]
    for i in [s for s in SHOWN if s <= len(results["ours"])]:
        d, o = results["default"][i - 1], results["ours"][i - 1]
        lines.append(f"| {i} | {d['grad_norm'][0]:.3g} / {o['grad_norm'][0]:.3g} | "
                     f"{d['adam_ratio_median']:.3g} / {o['adam_ratio_median']:.3g} | "
                     f"{d['step_rms_over_lr']:.3g} / {o['step_rms_over_lr']:.3g} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=60)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--style", type=Path, default=DEFAULT_STYLES / "starry-night.jpg")
    parser.add_argument("--output", type=Path,
                        default=REPO / "docs" / "training-stall.json")
    parser.add_argument("--write-default-init", type=Path, metavar="MODEL",
                        help="only write a seeded MT-Net with PyTorch's default output layers "
                             "as a model file, for `brushwork train --init-from MODEL` (the "
                             "'before' arm of a whole training run), and exit")
    args = parser.parse_args(argv)
    if args.write_default_init:
        torch.manual_seed(TrainConfig().seed)
        net = MTNet()
        default_output_layers(net)
        save_model(args.write_default_init, net, {"architecture": "mtnet",
                                                  "network": net.config.to_dict()})
        return 0
    keep_cpu_buffers_allocated()
    style = to_tensor(load_image(args.style))
    results = {arm: run_arm(arm, args, style) for arm in ("default", "ours")}
    args.output.write_text(json.dumps({"iterations": args.iterations,
                                       "provenance": provenance("cpu"),
                                       "arms": results}, indent=1) + "\n")
    print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
