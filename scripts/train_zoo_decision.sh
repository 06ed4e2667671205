#!/usr/bin/env bash
# Rebuild the decision-making zoo: bounded meta-learned inference (Binz et al. 2022) over a grid of resource
# penalties lambda, for the two knowledge conditions of experiments 1 and 2 (CPU, ~3 min each on one core).
# Each checkpoint records the exact command in its metadata.
#   usage: scripts/train_zoo_decision.sh [CONDITION-LAMBDA ...]   (default: ranking and direction x 0, 2, 4)
set -euo pipefail
cd "$(dirname "$0")/.."
MLCOG=${MLCOG:-.venv/bin/mlcog}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
mkdir -p src/mlcog/zoo/decision
specs=("$@")
[ ${#specs[@]} -eq 0 ] && specs=(ranking-0 ranking-2 ranking-4 direction-0 direction-2 direction-4)
for spec in "${specs[@]}"; do
  condition=${spec%-*}; lambda=${spec#*-}
  name=bmi-$condition-l$lambda
  run=runs/zoo/$name
  resume=""; [ -f "$run/checkpoint.safetensors" ] && resume="--resume"
  $MLCOG train decision --condition "$condition" --lambda "$lambda" --steps 4000 --no-progress --out "$run" $resume
  cp "$run/model.safetensors" "src/mlcog/zoo/decision/$name.safetensors"
done
