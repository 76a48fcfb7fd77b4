#!/bin/bash
# The zoo, one style after the other on a 2-core CPU (session 8's loop, ~14 minutes a style):
#   nohup experiments/zoo_pipeline.sh the-kiss irises > runs/zoo-pipeline.log 2>&1 &
# For each name: train its recipe (experiments/zoo.py, niced), package it as a built-in style,
# score it beside the peer (experiments/zoo_report.py: the 20 held-back photos at 1024 px) and
# run the built-in quality test. A style that misses either is unshipped: its model, pictures,
# card and loss log go to runs/unshipped/NAME-<commit>/ and its run to runs/zoo-<commit>/, so
# the recipe can be changed and trained again. Nothing is committed.
set -u
cd "$(dirname "$0")/.."
export OMP_WAIT_POLICY=PASSIVE
python=.venv/bin/python
tag=$(git rev-parse --short HEAD)

unship() {
  local name=$1 dest=runs/unshipped/$1-$tag
  mkdir -p "$dest" "runs/zoo-$tag"
  mv src/brushwork/styles/"$name".* docs/gallery/"$name".* docs/styles/"$name"-loss.jsonl.gz \
    "$dest"/ 2>/dev/null
  mv runs/zoo/"$name".* "runs/zoo-$tag"/
  "$python" - "$name" <<'PY'
import json, sys
path = "src/brushwork/styles/cards.json"
cards = json.load(open(path))
cards.pop(sys.argv[1], None)
open(path, "w").write(json.dumps(cards, indent=2, ensure_ascii=False) + "\n")
PY
  echo "[$(date +%T)] $name: unshipped to $dest"
}

for name in "$@"; do
  echo "[$(date +%T)] $name: train"
  nice -n 10 "$python" -m experiments.zoo train "$name" > "runs/train-$name.log" 2>&1 \
    || { echo "[$(date +%T)] $name: training failed (runs/train-$name.log)"; continue; }
  nice "$python" -m experiments.zoo package "$name" | tail -1
  echo "[$(date +%T)] $name: report"
  nice "$python" -m experiments.zoo_report "$name" > "runs/report-$name.log" 2>&1
  report=$?
  tail -n 3 "runs/report-$name.log"
  nice "$python" -m pytest -q \
    "tests/test_builtin_quality.py::test_builtin_style_keeps_the_photo_and_paints_it[$name]" \
    2>&1 | tail -1
  quality=${PIPESTATUS[0]}
  if [ "$report" != 0 ] || [ "$quality" != 0 ]; then
    unship "$name"
  fi
done
echo "[$(date +%T)] done"
