#!/usr/bin/env bash
# Rebuild the function-learning zoo (ERMI's function-learning recipe at CPU size: 4 layers, width 64).
# Constant learning rate, so a run stopped early (SIGINT) equals a shorter --steps; the bundled models stopped
# at about 9,000 steps (`mlcog models list --commands` shows each model's step and last command).
#   usage: scripts/train_zoo_function.sh [lucas|gp ...]     (default: both; ~25 min each on one core)
set -euo pipefail
cd "$(dirname "$0")/.."
MLCOG=${MLCOG:-.venv/bin/mlcog}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
mkdir -p src/mlcog/zoo/function
priors=("$@")
[ ${#priors[@]} -eq 0 ] && priors=(lucas gp)
for prior in "${priors[@]}"; do
  run=runs/zoo/function-$prior
  resume=""; [ -f "$run/checkpoint.safetensors" ] && resume="--resume"
  $MLCOG train function --prior "$prior" --gp-kernel mixture --steps 9000 --n-layers 4 --d-ff 128 --dropout 0.0 \
    --eval-every 1000 --checkpoint-every 1000 --no-progress --out "$run" $resume
  cp "$run/model.safetensors" "src/mlcog/zoo/function/$prior.safetensors"
done
