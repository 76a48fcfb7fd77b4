#!/usr/bin/env bash
# Whole-run A/B of issue 14 (docs/training-stall.md, section 5), one run after the other on an
# otherwise idle machine, then all three scored on the held-back photos beside the peer:
#   A  the default recipe (output layers start flat, 256 px crops of 512 px photos), MINUTES
#   B  the same from PyTorch's default output layers (--init-from a seeded default-init MT-Net),
#      stopped at A's iteration count (equal iterations)
#   C  the paper's 512 px crops for the same MINUTES as A (equal CPU time)
# Usage: bash experiments/startup_ab.sh [MINUTES] [STYLE]   (default 10, starry-night.jpg)
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES=${1:-10}
STYLE=${2:-../shared/data/styles/starry-night.jpg}
OUT=runs/startup-ab
PY=.venv/bin/python
export OMP_WAIT_POLICY=PASSIVE
mkdir -p "$OUT"
common=(--style "$STYLE" --data data/train-photos --snapshot-every 0 --quiet --scratch --no-report
        --preview-photo ../shared/data/photos/gcompris-qt-data-giraffe-b.jpg)

[ -f "$OUT/A.safetensors" ] || nice $PY -m brushwork train "${common[@]}" -o "$OUT/A.safetensors" \
  --minutes "$MINUTES"
iterations=$($PY -c "import json,sys; print(json.loads(open(sys.argv[1]).readlines()[-1])['iteration'])" \
  "$OUT/A.run/loss.jsonl")
[ -f "$OUT/default-init.safetensors" ] || $PY -m experiments.adam_stall \
  --write-default-init "$OUT/default-init.safetensors"
[ -f "$OUT/B.safetensors" ] || nice $PY -m brushwork train "${common[@]}" -o "$OUT/B.safetensors" \
  --init-from "$OUT/default-init.safetensors" --minutes 0 --iterations "$iterations"
[ -f "$OUT/C.safetensors" ] || nice $PY -m brushwork train "${common[@]}" -o "$OUT/C.safetensors" \
  --crop-size 512 --photo-size 512 --minutes "$MINUTES"
$PY -m experiments.compare_runs "$OUT/A.run/loss.jsonl" "$OUT/B.run/loss.jsonl" \
  --iterations "$iterations" --window 50 --names ours default || true
$PY -m experiments.peer_compare "$OUT/A.safetensors" "$OUT/B.safetensors" "$OUT/C.safetensors" \
  --style "$STYLE" --photos 10 --sheet "$OUT/sheet.jpg" --json "$OUT/scores.json" || true
