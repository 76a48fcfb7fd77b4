"""The level schedule has one definition, ``levels.plan_levels``, and the ONNX graph (which
writes the same arithmetic as graph operations) paints at the sizes it gives."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

from brushwork.levels import TRAINED_LEVELS, level_long_sides, plan_levels
from brushwork.networks.multimodal import MTNet
from tests.helpers import TINY_MT

#: A small anchor, so that all three parts of the schedule (size/4, size/2, size below
#: 2 * COARSE; COARSE, 2 * COARSE, size up to 4 * COARSE; refine passes beyond) take little
#: arithmetic.
COARSE = 16


@given(height=st.integers(1, 400), width=st.integers(1, 400), size=st.integers(1, 3000))
@settings(max_examples=200)
def test_every_level_keeps_the_aspect_ratio_and_the_last_has_the_requested_long_side(
    height, width, size
):
    plan = plan_levels(height, width, size)
    assert [max(level) for level in plan] == level_long_sides(size)
    assert max(plan[-1]) == size
    assert len(plan) >= TRAINED_LEVELS
    assert all(min(level) >= 1 for level in plan)
    sides = [max(level) for level in plan]
    assert sides == sorted(sides)  # coarse to fine


@pytest.fixture(scope="module")
def onnx_session():
    pytest.importorskip("onnx", reason="ONNX export needs the onnx extra: pip install '.[onnx]'")
    ort = pytest.importorskip("onnxruntime", reason="needs onnxruntime: pip install '.[onnx]'")
    from brushwork.onnx_export import hierarchy_graph

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        network = MTNet(TINY_MT).eval()
    model = hierarchy_graph(network, coarse=COARSE)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), options,
                                providers=["CPUExecutionProvider"])


@given(height=st.integers(1, 90), width=st.integers(1, 90), size=st.integers(1, 9 * COARSE))
@settings(max_examples=25, deadline=None)
@example(height=60, width=90, size=2 * COARSE)  # the first size with the anchor
@example(height=90, width=60, size=4 * COARSE)  # the last without a second refine pass
@example(height=60, width=90, size=4 * COARSE + 1)  # the first with one
@example(height=2, width=90, size=8 * COARSE)  # a thin strip, two refine passes
@example(height=1, width=1, size=1)
def test_the_onnx_graph_paints_every_level_at_the_planned_size(onnx_session, height, width, size):
    photo = np.random.default_rng(0).random((1, 3, height, width), dtype=np.float32)
    painting, level1, level2 = onnx_session.run(
        ["painting", "level1", "level2"], {"photo": photo, "size": np.array(size, np.int64)})
    plan = plan_levels(height, width, size, COARSE)
    assert [level1.shape[-2:], level2.shape[-2:], painting.shape[-2:]] == [
        plan[0], plan[1], plan[-1]]
