"""The whole MT-Net hierarchy as one ONNX model that paints at any size.

Apps that embed a style want one runtime-neutral file, so the exported graph is the whole of
``hierarchy.stylize_tensor``, not three subnets to chain by hand:

    inputs   photo     float32 (N, 3, H, W), RGB in [0, 1], any H and W
             size      int64 scalar: the long side of the painting, in pixels
    outputs  painting  float32 (N, 3, h, w) in [0, 1], h x w = the photo's aspect at ``size``
             level1    the style subnet's output (size/4 below 512; 256 from 512)
             level2    the enhance subnet's output (size/2 below 512; 512 from 512)

Inside the graph, as in PyTorch: each level's size is ``levels.plan_levels``, computed from
the photo's shape and ``size`` with the same float64 arithmetic and round-half-to-even (the
graph cannot call Python at run time, so it writes that arithmetic as graph operations, from
the same constants; tests/test_levels.py holds the graph's level shapes to ``plan_levels``).
The photo or the previous level is resized bilinearly (antialiased when shrinking, opset 18's
``Resize``), reflect-padded to its subnet's multiple (``hierarchy.pad_to_multiple``), painted,
and cropped back (``hierarchy.paint_level``). The refine subnet runs in an ONNX ``Loop``: once
up to 1024, once per doubling beyond, every pass after the first shifted back to its input's
mean colour (``hierarchy._keep_colour``).

How it is built: each subnet is exported by PyTorch's TorchScript-based exporter with
dynamic height and width (convolutions, instance norm, reflection padding and the nearest x2
resizes of its resize-convolutions have no fixed size), then this module writes the
hierarchy around them with ``onnx.helper``. Tracing the whole hierarchy instead would freeze
the level sizes of the example photo into the graph: they are Python integers in
``stylize_tensor``. Everything runs in float32; tiling (``--max-memory``) does not apply.
"""

from __future__ import annotations

import io
import json
import math
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import torch
from torch import nn

from . import __version__
from .errors import BrushworkError
from .hyper_parameters import COARSE_SIZE, LEVEL_SCALES
from .images import atomic_write
from .levels import TRAINED_LEVELS

if TYPE_CHECKING:
    from .networks.multimodal import MTNet

#: ONNX opset of the exported model: 18 is the first whose ``Resize`` antialiases.
OPSET = 18
#: Names of the graph's inputs and outputs (see the module docstring).
PHOTO, SIZE, PAINTING, LEVELS = "photo", "size", "painting", ("level1", "level2")

try:  # onnx is needed to export only (the brushwork[onnx] extra)
    import onnx
    from onnx import TensorProto, helper
except ImportError:  # pragma: no cover - said when an export is asked for
    onnx = None  # type: ignore[assignment]


def _require_onnx() -> None:
    if onnx is None:
        raise BrushworkError("ONNX export needs the onnx package: pip install 'brushwork[onnx]'")


class _Builder:
    """Appends nodes with fresh output names (``prefix`` keeps a Loop body's names apart)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.nodes: list[Any] = []
        self._count = 0

    def op(self, op_type: str, *inputs: str, **attributes: Any) -> str:
        self._count += 1
        output = f"{self.prefix}{op_type.lower()}{self._count}"
        self.nodes.append(helper.make_node(op_type, list(inputs), [output], **attributes))
        return output

    def const(self, value: Any, dtype: int) -> str:
        self._count += 1
        output = f"{self.prefix}const{self._count}"
        array = [value] if not isinstance(value, (list, tuple)) else list(value)
        dims = [] if not isinstance(value, (list, tuple)) else [len(array)]
        tensor = helper.make_tensor(output, dtype, dims, array)
        self.nodes.append(helper.make_node("Constant", [], [output], value=tensor))
        return output

    def to_double(self, name: str) -> str:
        return self.op("Cast", name, to=TensorProto.DOUBLE)

    def rounded(self, value: str) -> str:
        """max(1, round(value)) as int64: Round is half-to-even, as Python's ``round``."""
        whole = self.op("Cast", self.op("Round", value), to=TensorProto.INT64)
        return self.op("Max", whole, self.const(1, TensorProto.INT64))


def _subnet_graph(subnet: nn.Module, name: str) -> Any:
    """``subnet`` exported with dynamic N, H, W; every name prefixed with ``name/``."""
    example = torch.rand(1, 3, 64, 96)
    buffer = io.BytesIO()
    axes = {0: "n", 2: "height", 3: "width"}
    with warnings.catch_warnings():  # the TorchScript exporter's deprecation notice
        warnings.simplefilter("ignore")
        # The TorchScript exporter writes to a file object too (torch annotates paths only).
        torch.onnx.export(subnet, (example,), buffer,  # type: ignore[arg-type]
                          dynamo=False, input_names=["x"],
                          output_names=["y"], dynamic_axes={"x": axes, "y": axes},
                          opset_version=OPSET, do_constant_folding=True)
    model = onnx.load_from_string(buffer.getvalue())
    return onnx.compose.add_prefix(model, f"{name}/").graph


class _Level:
    """Writes one level (resize, pad, subnet, crop) into a builder; see ``stylize_tensor``."""

    def __init__(self, shape: dict[str, str]) -> None:
        self.shape = shape  # names of the photo's h, w and max(h, w) as float64 scalars

    def write(
        self, g: _Builder, source: str, side: str, graph: Any, multiple: int, antialias: int,
    ) -> tuple[str, str]:
        """Returns the names of (the cropped output, the resized input) of the level."""
        # levels.scaled_size: scale = side / max(h, w); round(h * scale), in float64.
        scale = g.op("Div", g.to_double(side), self.shape["m"])
        vh = g.rounded(g.op("Mul", self.shape["h"], scale))
        vw = g.rounded(g.op("Mul", self.shape["w"], scale))
        axis0 = g.const([0], TensorProto.INT64)
        hw = g.op("Concat", g.op("Unsqueeze", vh, axis0), g.op("Unsqueeze", vw, axis0), axis=0)
        if antialias:
            resized = self._antialiased(g, source, vh, vw)
        else:  # networks.multimodal.resize growing: bilinear with half-pixel centres
            leading = g.op("Slice", g.op("Shape", source), axis0,
                           g.const([2], TensorProto.INT64))
            sizes = g.op("Concat", leading, hw, axis=0)
            resized = g.op("Resize", source, "", "", sizes, mode="linear",
                           coordinate_transformation_mode="half_pixel")
        padded = self._pad(g, resized, vh, vw, multiple)
        g.nodes.append(helper.make_node("Identity", [padded], [graph.input[0].name]))
        g.nodes.extend(graph.node)
        ends = hw
        cropped = g.op("Slice", graph.output[0].name, g.const([0, 0], TensorProto.INT64), ends,
                       g.const([2, 3], TensorProto.INT64))
        return cropped, resized

    @staticmethod
    def _antialiased(g: _Builder, image: str, vh: str, vw: str) -> str:
        """PyTorch's antialiased bilinear resize (``antialias=True``), as two matrix products.

        onnxruntime's own ``Resize(antialias=1)`` differs from PyTorch's by up to 0.05 (of 1)
        at 300x200 -> 150x100, which the style subnet then amplifies (25 dB at the first
        level). PyTorch's kernel (PIL's) is separable: output pixel j of an axis of n -> m is
        sum_k tri((k + 0.5 - s (j + 0.5)) / max(s, 1)) x_k over the normalised weights, with
        s = n / m and tri(t) = max(0, 1 - |t|). Growing, it is plain bilinear with half-pixel
        centres, so the same matrices serve any first level. Cost: a 12 MP photo to 256 px
        is ~6 GFLOP (the network at 1024: 161).
        """
        shape = g.op("Shape", image)

        def weights(axis: int, out: str) -> str:
            size = g.op("Gather", shape, g.const(axis, TensorProto.INT64))
            zero, one = g.const(0, TensorProto.INT64), g.const(1, TensorProto.INT64)
            to_float = {"to": TensorProto.FLOAT}
            scale = g.op("Div", g.op("Cast", size, **to_float), g.op("Cast", out, **to_float))
            support = g.op("Max", scale, g.const(1.0, TensorProto.FLOAT))
            half = g.const(0.5, TensorProto.FLOAT)
            rows = g.op("Cast", g.op("Range", zero, out, one), **to_float)
            columns = g.op("Cast", g.op("Range", zero, size, one), **to_float)
            centres = g.op("Unsqueeze", g.op("Mul", scale, g.op("Add", rows, half)),
                           g.const([1], TensorProto.INT64))
            offset = g.op("Div", g.op("Sub", g.op("Add", columns, half), centres), support)
            tent = g.op("Relu", g.op("Sub", g.const(1.0, TensorProto.FLOAT),
                                     g.op("Abs", offset)))
            total = g.op("ReduceSum", tent, g.const([1], TensorProto.INT64), keepdims=1)
            return g.op("Div", tent, total)  # (out, size)

        rows_done = g.op("MatMul", weights(2, vh), image)  # (N, C, vh, W)
        return g.op("MatMul", rows_done, g.op("Transpose", weights(3, vw), perm=[1, 0]))

    @staticmethod
    def _pad(g: _Builder, image: str, vh: str, vw: str, multiple: int) -> str:
        """hierarchy.pad_to_multiple: bottom/right to a multiple, at least max(2 * multiple,
        8); reflect, or replicate where the image is too small to reflect."""
        m = g.const(multiple, TensorProto.INT64)
        smallest = g.const(max(2 * multiple, 8), TensorProto.INT64)

        def amount(side: str) -> str:
            to_multiple = g.op("Mod", g.op("Sub", m, g.op("Mod", side, m)), m)
            return g.op("Max", to_multiple, g.op("Sub", smallest, side))

        bottom, right = amount(vh), amount(vw)
        axis0 = g.const([0], TensorProto.INT64)
        pads = g.op("Concat", g.const([0, 0, 0, 0, 0, 0], TensorProto.INT64),
                    g.op("Unsqueeze", bottom, axis0), g.op("Unsqueeze", right, axis0), axis=0)
        reflectable = g.op("And", g.op("Less", bottom, vh), g.op("Less", right, vw))
        branches = {}
        for branch, mode in (("then_branch", "reflect"), ("else_branch", "edge")):
            out = f"{g.prefix}pad_{mode}{len(g.nodes)}"
            node = helper.make_node("Pad", [image, pads], [out], mode=mode)
            branches[branch] = helper.make_graph(
                [node], f"{g.prefix}{mode}{len(g.nodes)}", [],
                [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)])
        return g.op("If", reflectable, **branches)


def hierarchy_graph(network: nn.Module, coarse: int = COARSE_SIZE) -> Any:
    """The ONNX model of ``network`` (an MT-Net in float32 on the CPU) painting at any size."""
    _require_onnx()
    if not hasattr(network, "level_subnets"):
        raise BrushworkError("ONNX export takes an MT-Net (the paper's hierarchy); single-level "
                             "baselines are not exported")
    style, enhance, refine = cast("MTNet", network).level_subnets(TRAINED_LEVELS)
    graphs = {name: _subnet_graph(module, name)
              for name, module in (("style", style), ("enhance", enhance), ("refine", refine))}
    multiples = {"style": style.size_multiple, "enhance": enhance.size_multiple,
                 "refine": refine.size_multiple}
    g = _Builder("")
    int64, double = TensorProto.INT64, TensorProto.DOUBLE
    shape_of = g.op("Shape", PHOTO)
    h = g.op("Gather", shape_of, g.const(2, int64))
    w = g.op("Gather", shape_of, g.const(3, int64))
    shape = {"h": g.to_double(h), "w": g.to_double(w), "m": g.to_double(g.op("Max", h, w))}
    size_d = g.to_double(SIZE)
    # levels.level_long_sides: size/4, size/2, size below 2 * coarse; coarse, 2 * coarse,
    # size up to 4 * coarse; beyond, coarse, 2 * coarse, then one refine pass per doubling.
    small = g.op("LessOrEqual", SIZE, g.const(4 * coarse, int64))
    below = g.op("Less", SIZE, g.const(2 * coarse, int64))
    sides = [g.op("Where", below, g.rounded(g.op("Mul", size_d, g.const(scale, double))),
                  g.const(c, int64))
             for scale, c in zip(LEVEL_SCALES[:2], (coarse, 2 * coarse))]
    base = g.const(float(2 * coarse), double)
    ratio = g.op("Div", size_d, base)
    doublings = g.op("Div", g.op("Log", ratio), g.const(math.log(2), double))
    passes = g.op("Where", small, g.const(1, int64),
                  g.op("Max", g.const(1, int64),
                       g.op("Cast", g.op("Round", doublings), to=int64)))
    level = _Level(shape)
    y1, _ = level.write(g, PHOTO, sides[0], graphs["style"], multiples["style"], antialias=1)
    y2, _ = level.write(g, y1, sides[1], graphs["enhance"], multiples["enhance"], antialias=0)

    body = _Builder("loop/")
    index, keep_going, previous = "loop/i", "loop/cond", "loop/previous"
    step = body.op("Div", body.to_double(body.op("Add", index, body.const(1, int64))),
                   body.to_double(passes))
    grown = body.rounded(body.op("Mul", base, body.op("Pow", ratio, step)))
    side = body.op("Where", small, SIZE, grown)
    out, source = level.write(body, previous, side, graphs["refine"], multiples["refine"],
                              antialias=0)
    # hierarchy._keep_colour for every pass beyond the trained three levels.
    axes = body.const([2, 3], int64)
    shift = body.op("Sub", body.op("ReduceMean", out, axes, keepdims=1),
                    body.op("ReduceMean", source, axes, keepdims=1))
    extra = body.op("GreaterOrEqual", index, body.const(TRAINED_LEVELS - 2, int64))
    following = body.op("Where", extra, body.op("Sub", out, shift), out)
    keep = body.op("Identity", keep_going)
    loop_body = helper.make_graph(
        body.nodes, "refine_passes",
        [helper.make_tensor_value_info(index, int64, []),
         helper.make_tensor_value_info(keep_going, TensorProto.BOOL, []),
         helper.make_tensor_value_info(previous, TensorProto.FLOAT, None)],
        [helper.make_tensor_value_info(keep, TensorProto.BOOL, []),
         helper.make_tensor_value_info(following, TensorProto.FLOAT, None)])
    final = g.op("Loop", passes, g.const(True, TensorProto.BOOL), y2, body=loop_body)

    zero, one = g.const(0.0, TensorProto.FLOAT), g.const(1.0, TensorProto.FLOAT)
    for value, name in ((final, PAINTING), (y1, LEVELS[0]), (y2, LEVELS[1])):
        g.nodes.append(helper.make_node("Clip", [value, zero, one], [name]))
    image: list[str | int] = ["n", 3, "height", "width"]
    graph = helper.make_graph(
        g.nodes, "mtnet",
        [helper.make_tensor_value_info(PHOTO, TensorProto.FLOAT, image),
         helper.make_tensor_value_info(SIZE, int64, [])],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, ["n", 3, None, None])
         for name in (PAINTING, *LEVELS)],
        initializer=[t for graph in graphs.values() for t in graph.initializer],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="brushwork", producer_version=__version__)
    model.ir_version = min(model.ir_version, 9)  # readable by onnxruntime >= 1.16
    return model


def export_onnx(source: str | Path, output: str | Path | None = None,
                coarse: int | None = None, width: str = "slim") -> bytes:
    """The ONNX model of ``source`` (a built-in style, a model file, or a training run's
    folder, from its latest checkpoint); written atomically to ``output`` if given.
    ``coarse``: the style subnet's long side (default: the model's own, ``Stylizer.coarse``).
    ``width``: a built-in style's slim or full-width network (``api.load_model``)."""
    _require_onnx()
    from .api import load_model

    with tempfile.TemporaryDirectory() as folder:
        if Path(source).is_dir():  # a run: its latest checkpoint, as 'brushwork export'
            from .model_files import export_model

            source = export_model(source, Path(folder) / "model.safetensors")
        stylizer = load_model(source, device="cpu", precision="float32", width=width)
    coarse = stylizer.coarse if coarse is None else coarse
    model = hierarchy_graph(stylizer.network, coarse)
    onnx.checker.check_model(model)
    described = {"brushwork_version": __version__, "source": Path(str(source)).name,
                 "coarse": str(coarse), "inputs": f"{PHOTO}: float32 N,3,H,W in [0,1]; "
                 f"{SIZE}: int64 long side", "metadata": json.dumps(stylizer.metadata)}
    helper.set_model_props(model, described)
    data = model.SerializeToString()
    if output is not None:
        atomic_write(output, lambda file: file.write(data))
    return data
