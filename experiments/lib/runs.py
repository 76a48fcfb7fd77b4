"""Training runs and stylised photos, each redone only when what made it changed.

Finished training runs are skipped and unfinished ones resumed (``brushwork.training.train(
resume=True)``, what ``brushwork train --resume`` runs); a run or model file made with other
settings is refused rather than silently reused. Stylised photos are kept beside a stamp of the
model that made them. Long work goes to ``runs/experiments/`` (ignored by git).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from brushwork.errors import BrushworkError
from brushwork.hyper_parameters import (
    JohnsonConfig,
    LossConfig,
    NetworkConfig,
    SingularConfig,
    TextureNetConfig,
    TrainConfig,
)
from brushwork.images import load_image, save_image
from brushwork.model_files import read_model_file
from brushwork.networks import ARCHITECTURES
from brushwork.networks.multimodal import parameter_count
from brushwork.training import TrainingEvent, train
from experiments.lib.arguments import REPO, SMOKE_CROP, log

#: A few thousand parameters each, with the real layouts.
SMOKE_NETWORKS: dict[str, Any] = {
    "mtnet": NetworkConfig.tiny(),
    "johnson": JohnsonConfig.tiny(),
    "texture-net": TextureNetConfig.tiny(),
    "singular": SingularConfig.tiny(),
}
#: Smoke stand-in for Fig. 6's deeper singular network: deeper than the smoke MT-Net's.
SMOKE_MATCHING_SINGULAR = replace(SingularConfig.tiny(), residual_blocks=2)

#: Training settings that must agree between a spec and an existing run or model for it to
#: count as the same experiment (the rest is bookkeeping: checkpoint and preview intervals).
COMPARED_TRAIN_FIELDS = ("batch_size", "crop_size", "photo_size", "learning_rate", "lr_decay",
                         "lr_decay_every", "seed", "mixed_precision", "texture_warmup")


@dataclass(frozen=True)
class TrainSpec:
    """One network to train: everything that defines it, so a rerun can check it is the same."""

    name: str  # file stem in the work folder
    arch: str
    network: Any  # the architecture's config dataclass
    loss: LossConfig
    train: TrainConfig
    style: Path
    data: Path
    label: str = ""  # what the reports call it

    def command(self, model: Path) -> str:
        """The equivalent ``brushwork train`` command (for networks the CLI can express)."""
        parts = ["brushwork train", f"--arch {self.arch}"]
        _, config_class = ARCHITECTURES[self.arch]
        if self.arch == "singular" and self.network == SingularConfig.matching_mtnet():
            parts.append("--match-mtnet")
        elif self.network != config_class():
            return "(not expressible with the CLI: a non-default network configuration)"
        loss = self.loss
        parts += [f"--style {shown(self.style)}", f"--data {shown(self.data)}",
                  f"-o {shown(model)}", f"--iterations {self.train.iterations}",
                  f"--crop-size {self.train.crop_size}",
                  "--style-sizes " + " ".join(str(s) for s in loss.style_sizes),
                  "--texture-weights " + " ".join(f"{w:g}" for w in loss.texture_weights),
                  "--content-weights " + " ".join(f"{w:g}" for w in loss.content_weights),
                  "--level-weights " + " ".join(f"{w:g}" for w in loss.level_weights)]
        return " ".join(parts)


def shown(path: Path) -> str:
    """A path relative to the checkout where it is inside it (reports are read from there)."""
    try:
        return str(Path(path).resolve().relative_to(REPO))
    except ValueError:
        return str(path)


@dataclass
class Trained:
    """A trained model and what happened in this run: "trained", "resumed", "skipped", "reused"."""

    spec: TrainSpec
    path: Path
    metadata: dict[str, Any]
    status: str

    @property
    def record(self) -> dict[str, Any]:
        return self.metadata.get("record", {})

    @property
    def iterations(self) -> int:
        return int(self.record.get("iterations", 0))

    @property
    def hours(self) -> float:
        return float(self.record.get("wall_seconds", 0.0)) / 3600

    @property
    def parameters(self) -> int:
        network_class, _ = ARCHITECTURES[self.spec.arch]
        return parameter_count(network_class(self.spec.network))


def style_size(full: int, smoke: bool) -> int:
    """An artwork size of the full experiment, or its smoke equivalent (scaled as the crop:
    512 -> 64), so smoke runs never compute Gram matrices of a 1024-px artwork."""
    return full * SMOKE_CROP // 512 if smoke else full


def network_config(arch: str, smoke: bool, match_mtnet: bool = False) -> Any:
    """The network an experiment trains: the architecture's default, or its smoke stand-in."""
    if arch == "singular" and match_mtnet:
        return SMOKE_MATCHING_SINGULAR if smoke else SingularConfig.matching_mtnet()
    return SMOKE_NETWORKS[arch] if smoke else ARCHITECTURES[arch][1]()


def differences(spec: TrainSpec, arch: str, network: dict, loss: dict, train_config: dict,
                styles: Iterable[str], data: str) -> list[str]:
    """How a stored run or model differs from ``spec`` (iteration counts aside)."""
    found = []
    if arch != spec.arch:
        return [f"architecture {arch} instead of {spec.arch}"]
    if ARCHITECTURES[arch][1].from_dict(network) != spec.network:
        found.append(f"network {network} instead of {spec.network.to_dict()}")
    if LossConfig.from_dict(loss) != spec.loss:
        found.append(f"loss {loss} instead of {spec.loss.to_dict()}")
    wanted = spec.train.to_dict()
    for key in COMPARED_TRAIN_FIELDS:
        if train_config.get(key) != wanted[key]:
            found.append(f"{key} {train_config.get(key)} instead of {wanted[key]}")
    names = [Path(s).name for s in styles]
    if names != [spec.style.name]:
        found.append(f"style {names} instead of {[spec.style.name]}")
    if Path(data).name != spec.data.name:
        found.append(f"data {Path(data).name} instead of {spec.data.name}")
    return found


def _model_differences(spec: TrainSpec, metadata: dict[str, Any]) -> list[str]:
    return differences(spec, metadata.get("architecture", ""), metadata.get("network", {}),
                       metadata.get("loss", {}), metadata.get("train", {}),
                       [s.get("file", "") for s in metadata.get("styles", [])],
                       metadata.get("record", {}).get("data", ""))


def ensure_trained(spec: TrainSpec, work: Path, device: str = "auto") -> Trained:
    """Train ``spec`` to its iteration budget, resuming an unfinished run; skip a finished one.

    The model is ``WORK/NAME.safetensors`` and its run ``WORK/NAME.run/``. A model or run
    made with other settings is an error (say which), never silently reused or overwritten.
    """
    model = work / f"{spec.name}.safetensors"
    run_dir = work / f"{spec.name}.run"
    budget = spec.train.iterations
    if model.is_file():
        _, metadata = read_model_file(model)
        problems = _model_differences(spec, metadata)
        if problems:
            raise BrushworkError(f"{model} was trained with other settings ({'; '.join(problems)})"
                                 ": remove it and its .run folder, or use another --work")
        done = int(metadata.get("record", {}).get("iterations", 0))
        if done >= budget:
            if done > budget:
                log(f"{spec.name}: has {done} iterations, more than the budget of {budget}")
            log(f"{spec.name}: trained ({done} iterations), skipped")
            return Trained(spec, model, metadata, "skipped")
    resume = (run_dir / "checkpoint.safetensors").is_file() or (
        run_dir / "checkpoint.prev.safetensors").is_file()
    if resume:
        from brushwork.checkpoints import load_checkpoint

        _, state, _ = load_checkpoint(run_dir)
        problems = differences(spec, state.get("arch", "mtnet"), state["network"],
                               state["loss"], state["train"], state["styles"],
                               state.get("data", ""))
        if problems:
            raise BrushworkError(f"{run_dir} holds a run with other settings "
                                 f"({'; '.join(problems)}): remove it or use another --work")
        if state["iteration"] > budget:
            raise BrushworkError(f"{run_dir} is at iteration {state['iteration']}, past the "
                                 f"budget of {budget}: raise --iterations or use another --work")
        log(f"{spec.name}: resuming at iteration {state['iteration']} of {budget}")
    else:
        log(f"{spec.name}: training {budget} iterations")
    train(spec.style, spec.data, model, run_dir=run_dir, arch=spec.arch, network=spec.network,
          loss=spec.loss, config=spec.train, device=device, resume=resume,
          callback=_progress(spec.name, budget))
    _, metadata = read_model_file(model)
    return Trained(spec, model, metadata, "resumed" if resume else "trained")


def reuse_model(spec: TrainSpec, path: Path) -> Trained:
    """An existing model in place of training ``spec``: same settings and exactly its budget."""
    from brushwork.api import resolve_model_path

    path = resolve_model_path(str(path))
    _, metadata = read_model_file(path)
    problems = _model_differences(spec, metadata)
    done = int(metadata.get("record", {}).get("iterations", 0))
    if done != spec.train.iterations:
        problems.append(f"{done} iterations instead of the budget of {spec.train.iterations}")
    if problems:
        raise BrushworkError(f"{path} cannot stand in for {spec.name}: {'; '.join(problems)}")
    log(f"{spec.name}: using {path} ({done} iterations)")
    return Trained(spec, path, metadata, "reused")


def _progress(name: str, iterations: int) -> Callable[[TrainingEvent], None]:
    every = max(1, iterations // 20)

    def report(event: TrainingEvent) -> None:
        if event.kind in ("warning", "resumed"):
            log(f"{name}: {event.message}")
        elif event.kind == "iteration" and (event.iteration % every == 0
                                            or event.iteration == iterations):
            log(f"{name}: iteration {event.iteration}/{iterations}, loss "
                f"{event.losses['total']:.4g}, {event.seconds:.2f} s")

    return report


def model_stamp(path: Path, **extra: Any) -> dict[str, Any]:
    """What identifies the outputs of a model: its file and training record, and settings."""
    stat = path.stat()
    _, metadata = read_model_file(path)
    return {"model": str(path.resolve()), "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns,
            "iterations": metadata.get("record", {}).get("iterations"), **extra}


def claim(folder: Path, stamp: dict[str, Any]) -> None:
    """Make ``folder`` hold only outputs made under ``stamp`` (clear it if it held others)."""
    marker = folder / "stamp.json"
    if folder.is_dir() and marker.is_file() and json.loads(marker.read_text()) == stamp:
        return
    if folder.is_dir():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    marker.write_text(json.dumps(stamp, indent=1))


def stylize_photos(model_path: Path, photos: Sequence[Path], size: int, folder: Path,
                   device: str, precision: str, levels: bool = False) -> list[list[Path]]:
    """Paint ``photos`` at long side ``size`` as PNG (lossless: the scores see what the network
    made). Returns, per photo, its files: the final output, or with ``levels`` every level
    coarse to fine (paper Fig. 4). Outputs made by the same model and settings are kept."""
    from brushwork.api import load_model

    claim(folder, model_stamp(model_path, size=size, precision=precision, levels=levels))
    model = None
    made: list[list[Path]] = []
    for photo in photos:
        index = folder / f"{photo.stem}.json"
        if index.is_file():
            made.append([folder / name for name in json.loads(index.read_text())])
            continue
        if model is None:
            model = load_model(model_path, device=device, precision=precision)
        began = time.perf_counter()
        image = load_image(photo)
        if levels:
            images = model.stylize_levels(image, size)
            files = [folder / f"{photo.stem}-y{k}.png" for k in range(1, len(images) + 1)]
        else:
            images = [model.stylize(image, size)]
            files = [folder / f"{photo.stem}.png"]
        for picture, path in zip(images, files):
            save_image(picture, path)
        index.write_text(json.dumps([p.name for p in files]))  # last: marks the photo done
        log(f"{folder.name}: {photo.name} at {size} px in {time.perf_counter() - began:.1f} s")
        made.append(files)
    return made
