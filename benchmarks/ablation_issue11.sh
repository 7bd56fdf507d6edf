#!/bin/bash
# The powered ablation of issue 11, one seed at a time so that every row has a seed before any has three.
# Data: .venv/bin/echoseg synth $DATA --videos 96 --difficulty hard --splits 0.5 0.08 0.42 --seed 11
# (48 train, 8 val, 40 test videos; EchoNet layout, ED/ES traced). Finished runs are skipped on a rerun.
cd "$(dirname "$0")/.."
for seeds in 0 0,1 0,1,2; do
  OMP_NUM_THREADS=1 .venv/bin/echoseg ablation --data ${DATA:-/tmp/hard96} --format echonet --config cpu \
    --out ${OUT:-/tmp/ablation_issue11} --variants unet,baseline,sscf --mean-teacher both --label-fractions 0.125 \
    --seeds $seeds --set optim.steps=200 --no-progress > ${OUT:-/tmp/ablation_issue11}_seeds${seeds//,/_}.log 2>&1
  echo "seeds $seeds done $(date -u +%H:%M)" >> ${OUT:-/tmp/ablation_issue11}_progress.log
done
