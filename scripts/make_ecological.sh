#!/usr/bin/env bash
# Rebuild the bundled ecological data set and its zoo model, offline (needs the [llm] extra).
#   1. generate three-feature tasks with the local GGUF model from the bundled Claude labels (WORKERS processes
#      on disjoint label ranges, one response cache; rerun to resume, nothing finished is asked again);
#   2. assemble everything cached into one CSV (+ sidecar JSON) and bundle it;
#   3. task statistics next to real CC18 chunks and the synthetic priors;
#   4. train the ERMI checkpoint with the zoo's settings (scripts/train_zoo.sh) and copy it into the zoo.
# usage: scripts/make_ecological.sh [generate|assemble|stats|train|all]
#   RANGES first labels of the ranges (default "0 1000 2000 3000"), PER_PROCESS label sets per range,
#   WORKERS parallel generation processes (one thread each), STEPS training steps.
# The bundled set was made this way and stopped by hand when time ran out (kill; the cache keeps every finished
# task), then assembled; its sidecar JSON and DATA.md give the counts reached.
set -euo pipefail
cd "$(dirname "$0")/.."
MLCOG=${MLCOG:-.venv/bin/mlcog}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
PER_PROCESS=${PER_PROCESS:-1000}
# First label of each range of PER_PROCESS label sets, and how many generation processes work through them.
read -ra FIRSTS <<< "${RANGES:-0 1000 2000 3000}"
WORKERS=${WORKERS:-2}
LABELS=$(( $(printf '%s\n' "${FIRSTS[@]}" | sort -n | tail -n 1) + PER_PROCESS ))  # labels 0..LABELS-1 assembled
STEPS=${STEPS:-3000}
ROWS=20
WORK=runs/ecological
DATA=src/mlcog/data/files/tasks/ecological_dim3.csv
step=${1:-all}

if [[ $step == generate || $step == all ]]; then
  mkdir -p $WORK
  # Each worker takes every WORKERS-th range in turn; finished tasks of a range are cache hits on a rerun.
  for ((w = 0; w < WORKERS; w++)); do
    (for ((i = w; i < ${#FIRSTS[@]}; i += WORKERS)); do
      $MLCOG generate category --backend local --dims 3 --tasks $PER_PROCESS --first-label ${FIRSTS[i]} --rows $ROWS \
        --min-rows 10 --out $WORK/gen_${FIRSTS[i]}.csv --cache-dir $WORK/cache --concurrency 1 --threads 1 --no-progress
    done) &
  done
  wait
fi
if [[ $step == assemble || $step == all ]]; then
  # --cache-only: nothing is sent; every task whose response is cached is parsed into one file.
  $MLCOG generate category --backend local --dims 3 --tasks $LABELS --rows $ROWS --min-rows 10 --out $DATA \
    --cache-dir $WORK/cache --cache-only --no-progress
fi
if [[ $step == stats || $step == all ]]; then
  $MLCOG tasks stats $DATA --dims 3 --out $WORK/stats
  cp $WORK/stats/task_stats.csv src/mlcog/data/files/tasks/ecological_dim3_stats.csv
  cp $WORK/stats/task_stats.png src/mlcog/data/files/tasks/ecological_dim3_stats.png
fi
if [[ $step == train || $step == all ]]; then
  run=runs/zoo/ecological-dim3
  resume=""; [ -f "$run/checkpoint.safetensors" ] && resume="--resume"
  $MLCOG train category --prior file --tasks-file $DATA --dims 3 --n-trials 160 --steps $STEPS \
    --d-model 64 --n-heads 4 --n-layers 3 --d-ff 128 --dropout 0 --positional none --token-shift --batch-size 32 \
    --eval-every 250 --checkpoint-every 250 --no-progress --out $run $resume
  cp $run/model.safetensors src/mlcog/zoo/ecological-dim3.safetensors
fi
