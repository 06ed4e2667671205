#!/usr/bin/env bash
# Rebuild the bundled ecological data set and its zoo model, offline (needs the [llm] extra).
#   1. generate three-feature tasks with the local GGUF model from the bundled Claude labels (two processes on
#      disjoint label ranges, one response cache; rerun to resume, nothing finished is asked again);
#   2. assemble everything cached into one CSV (+ sidecar JSON) and bundle it;
#   3. task statistics next to real CC18 chunks and the synthetic priors;
#   4. train the ERMI checkpoint with the zoo's settings (scripts/train_zoo.sh) and copy it into the zoo.
# usage: scripts/make_ecological.sh [generate|assemble|stats|train|all]
#   PER_PROCESS label sets per generation process (labels 0.. and PER_PROCESS..), STEPS training steps.
# The bundled set was made this way and stopped by hand when time ran out (kill; the cache keeps every finished
# task), then assembled; its sidecar JSON and DATA.md give the counts reached.
set -euo pipefail
cd "$(dirname "$0")/.."
MLCOG=${MLCOG:-.venv/bin/mlcog}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
PER_PROCESS=${PER_PROCESS:-1000}
STEPS=${STEPS:-3000}
ROWS=20
WORK=runs/ecological
DATA=src/mlcog/data/files/tasks/ecological_dim3.csv
step=${1:-all}

if [[ $step == generate || $step == all ]]; then
  mkdir -p $WORK
  for part in 0 1; do
    $MLCOG generate category --backend local --dims 3 --tasks $PER_PROCESS --first-label $((part * PER_PROCESS)) --rows $ROWS \
      --min-rows 10 --out $WORK/gen_$part.csv --cache-dir $WORK/cache --concurrency 1 --threads 1 --no-progress &
  done
  wait
fi
if [[ $step == assemble || $step == all ]]; then
  # --cache-only: nothing is sent; every task whose response is cached is parsed into one file.
  $MLCOG generate category --backend local --dims 3 --tasks $((2 * PER_PROCESS)) --rows $ROWS --min-rows 10 --out $DATA \
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
