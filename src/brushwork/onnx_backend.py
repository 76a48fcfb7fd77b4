"""Painting through onnxruntime: ``brushwork stylize --backend onnx``.

``load_onnx_model`` takes what ``api.load_model`` takes (a built-in style, a model file) or a
``.onnx`` file written by ``brushwork export``, and returns an object with the ``Stylizer``
methods the command line uses, so the rest of a run (outputs, ``--json``, colour
preservation and strength, sharding under torchrun) is the same code for both backends. A
model that is not ONNX yet is exported in memory first (``onnx_export``; a few seconds).

The graph is float32 and runs whole: ``--precision bfloat16`` and the memory budget's tiling
are PyTorch-only. onnxruntime is the ``brushwork[onnx]`` extra; without it this is a
one-line error that says what to install.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from .color import adjust, check_strength
from .errors import BrushworkError
from .hyper_parameters import COARSE_SIZE
from .images import to_image, to_tensor
from .levels import check_coarse, check_size
from .mixing import parse_mix
from .onnx_export import LEVELS, PAINTING, PHOTO, SIZE, export_onnx


@dataclass
class OnnxStylizer:
    """An onnxruntime session of an exported MT-Net, used like ``api.Stylizer``."""

    session: Any
    name: str
    device: str
    metadata: dict[str, Any] = field(default_factory=dict)
    coarse: int = COARSE_SIZE

    def stylize_levels(
        self, image: Image.Image, size: int = 1024, max_memory: int | str | None = None, *,
        preserve_color: bool = False, strength: float = 1.0, on_level: Any = None,
        coarse: int | None = None,
    ) -> list[Image.Image]:
        """level1, level2 and the painting (beyond 1024 the intermediate refine passes stay
        inside the graph). ``max_memory`` is ignored: the graph runs whole."""
        check_size(size)
        coarse = self.coarse if coarse is None else coarse
        check_coarse(coarse)
        strength = check_strength(strength)
        if coarse != self.coarse:
            raise BrushworkError(f"this ONNX model was exported with coarse={self.coarse}; "
                                 f"export it again for coarse={coarse}")
        photo = np.ascontiguousarray(to_tensor(image).numpy())
        outputs = self.session.run([*LEVELS, PAINTING],
                                   {PHOTO: photo, SIZE: np.array(size, dtype=np.int64)})
        levels = [to_image(torch.from_numpy(output)) for output in outputs]
        if on_level is not None:
            for k in range(1, len(levels) + 1):
                on_level(k, len(levels))
        return [adjust(level, image, preserve_color=preserve_color, strength=strength)
                for level in levels]

    def stylize(self, image: Image.Image, size: int = 1024,
                max_memory: int | str | None = None, **options: Any) -> Image.Image:
        return self.stylize_levels(image, size, max_memory, **options)[-1]


def _session(data: bytes, device: str) -> tuple[Any, str]:
    try:
        import onnxruntime
    except ImportError:
        raise BrushworkError("--backend onnx needs onnxruntime: pip install "
                             "'brushwork[onnx]'") from None
    available = onnxruntime.get_available_providers()
    if device == "cuda" or device.startswith("cuda:"):
        if "CUDAExecutionProvider" not in available:
            raise BrushworkError("--device cuda with --backend onnx needs onnxruntime-gpu")
        index = int(device.split(":")[1]) if ":" in device else 0
        providers: list[Any] = [("CUDAExecutionProvider", {"device_id": index})]
    elif device == "auto" and "CUDAExecutionProvider" in available:
        providers = ["CUDAExecutionProvider"]
    else:
        providers = ["CPUExecutionProvider"]
    options = onnxruntime.SessionOptions()
    # As many threads as PyTorch uses (torchrun sets OMP_NUM_THREADS=1 per process), so
    # several processes on one CPU do not each take every core.
    options.intra_op_num_threads = torch.get_num_threads()
    try:
        session = onnxruntime.InferenceSession(data, options, providers=providers)
    except Exception as error:  # onnxruntime raises its own classes for a bad file
        raise BrushworkError(f"onnxruntime cannot load this model: {error}") from None
    return session, session.get_providers()[0]


def load_onnx_model(
    name_or_path: str | Path, device: str = "auto", precision: str = "auto",
    mix: str = "auto", width: str = "slim",
) -> OnnxStylizer:
    """An ``OnnxStylizer`` for a .onnx file, a model file or a built-in style (exported here).

    Same arguments as ``api.load_model``; the precision is float32 (``auto`` means that)."""
    text = str(name_or_path)
    if parse_mix(text) is not None:  # a mix of styles is PyTorch-only
        raise BrushworkError("--backend onnx paints one style: mixes need --backend torch")
    if precision not in ("auto", "float32"):
        raise BrushworkError("--backend onnx computes in float32: drop --precision or use "
                             "--backend torch")
    path = Path(text)
    if path.suffix.lower() == ".onnx":
        if not path.is_file():
            raise BrushworkError(f"ONNX model not found: {path}")
        data = path.read_bytes()
    else:
        data = export_onnx(name_or_path, width=width)
    session, provider = _session(data, device)
    props = session.get_modelmeta().custom_metadata_map
    try:
        metadata = json.loads(props.get("metadata", "{}"))
        coarse = int(props.get("coarse", COARSE_SIZE))
    except ValueError:
        raise BrushworkError(f"{text} is not an ONNX model written by brushwork") from None
    if {i.name for i in session.get_inputs()} != {PHOTO, SIZE}:
        raise BrushworkError(f"{text} is not an ONNX model written by 'brushwork export' "
                             f"(inputs {PHOTO} and {SIZE})")
    name = text if path.suffix or "/" in text else path.stem
    return OnnxStylizer(session, name, f"onnxruntime {provider}", metadata, coarse)
