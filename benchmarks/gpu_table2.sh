#!/usr/bin/env bash
# Issue 23's Table 2 campaign on a lent GPU machine (one H100/H200, 16 cores), in one call that must end
# inside the device tool's limits: benchmarks/table2_parallel.sh for both label settings and the seeds named,
# stopped at a deadline, then every run that finished is packed for the way back.
#
#   benchmarks/gpu_table2.sh SEEDS JOBS DEADLINE_S [OUTDIR]
#     SEEDS       comma-separated training seeds, e.g. 2,3,4 (whole seeds: every row of a seed on one device,
#                 so the paired row differences within a seed do not mix devices)
#     JOBS        campaign jobs at once (each one training process with one CPU thread and one loader worker)
#     DEADLINE_S  seconds after which unfinished runs are stopped (a run is kept only when its run.json exists)
#     OUTDIR      default $OUT; gets table2_records.tar.gz (SETTING/ROW/seedS/foldF/, the archive's layout),
#                 logs.tar.gz (every job's log), gpu_use.txt (nvidia-smi every 30 s) and summary.txt
#
# Back here: tar -xzf table2_records.tar.gz -C benchmarks/table2_runs, then commit (runs already archived are
# left as they are). Carry the campaign's dataset to save the synthesis: cp -r WORK/data .t2data (git-ignored
# through .git/info/exclude) and carry [".t2data", ".whl"]; without it the dataset is made again from seed 11.
# The runs are fp32 (NVIDIA_TF32_OVERRIDE=0: no TF32 in cuDNN/cuBLAS), as on the CPU. MPS=0: no MPS daemon.
# Measured (benchmarks/RESULTS.md, "Table 2 campaign runs on the GPU"): without MPS a U-Net run costs ~11 s of
# GPU and a baseline-MT run ~20 s whatever the number of jobs; an SSCF-MT run at 15 jobs would need ~1430 s.
# Plumbing check on a CPU: GPU_TABLE2_DRYRUN=1 bash benchmarks/gpu_table2.sh 7 2 60 /tmp/t2-dry (2000 steps
# become 20; never unpack a dry run's records into the archive).
set -uo pipefail
[[ $# -ge 3 ]] || { sed -n '6,12p' "$0"; exit 2; }
seeds=$1 jobs=$2 deadline=$3
cd "$(dirname "$0")/.."
repo=$PWD
out=$(realpath -m "${4:-${OUT:?OUTDIR or OUT}}")
work=$(mktemp -d)
mkdir -p "$out" "$work/bin" "$work/records"
python=${PYTHON:-python3}
export PYTHONPATH="$repo/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 NVIDIA_TF32_OVERRIDE=0
if ! "$python" -c "import monai, nibabel" 2>/dev/null; then
  "$python" -m pip install --quiet --no-index --no-deps --no-compile --target "$work/site" .whl/*.whl \
    && export PYTHONPATH="$PYTHONPATH:$work/site"
fi

extra=""
if [[ -n "${GPU_TABLE2_DRYRUN:-}" ]]; then
  export DEVICE=cpu; extra='--set optim.steps=20 --set runtime.val_interval=10'
else
  export DEVICE=cuda
fi
# the campaign calls $ECHOSEG; a later --set wins, so the dry run's shorter budget goes last
printf '#!/bin/sh\nexec "%s" -m echoseg "$@" %s\n' "$python" "$extra" > "$work/bin/echoseg"
chmod +x "$work/bin/echoseg"
export ECHOSEG=$work/bin/echoseg

summary=$out/summary.txt
{
  date -u +%FT%TZ
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
  "$python" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
  echo "seeds $seeds, $jobs jobs at once, deadline ${deadline}s, device $DEVICE"
} | tee "$summary"
if [[ -f .t2data/FileList.csv ]]; then
  cp -r .t2data "$work/data"
fi
# Several processes on one GPU take turns (time-slicing): on 2026-12-04 15 jobs ran no faster in total than 7,
# the GPU "100% busy" with these small 64x64 models filling little of it. The MPS daemon lets their kernels run
# side by side. Not yet tried on a GPU: it is probed with one tiny CUDA call and stopped again if that fails.
if [[ $DEVICE == cuda && ${MPS:-1} == 1 ]] && command -v nvidia-cuda-mps-control > /dev/null; then
  export CUDA_MPS_PIPE_DIRECTORY=$work/mps-pipe CUDA_MPS_LOG_DIRECTORY=$work/mps-log
  mkdir -p "$CUDA_MPS_PIPE_DIRECTORY" "$CUDA_MPS_LOG_DIRECTORY"
  if nvidia-cuda-mps-control -d && timeout 60 "$python" -c "import torch; print(torch.ones(1, device='cuda').item())" \
      > /dev/null 2>&1; then
    echo "MPS on" | tee -a "$summary"
  else
    echo quit | nvidia-cuda-mps-control 2>/dev/null
    unset CUDA_MPS_PIPE_DIRECTORY CUDA_MPS_LOG_DIRECTORY
    echo "MPS did not start; time-slicing" | tee -a "$summary"
  fi
fi
(while sleep 30; do
   nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv,noheader >> "$out/gpu_use.txt" 2>&1
 done) &
sampler=$!

start=$(date +%s)
setsid bash benchmarks/table2_parallel.sh paper,few "$seeds" "$work" "$jobs" > "$out/parallel.log" 2>&1 &
campaign=$!
while kill -0 "$campaign" 2>/dev/null && (( $(date +%s) - start < deadline )); do sleep 5; done
kill -- -"$campaign" 2>/dev/null  # the whole process group: xargs, campaign scripts, training processes
sleep 3
kill -9 -- -"$campaign" 2>/dev/null
kill "$sampler" 2>/dev/null
[[ -n ${CUDA_MPS_PIPE_DIRECTORY:-} ]] && { echo quit | nvidia-cuda-mps-control; cp -r "$CUDA_MPS_LOG_DIRECTORY" "$work/jobs/" 2>/dev/null; }
echo "stopped after $(( $(date +%s) - start )) s" | tee -a "$summary"

# a finished run's record, in the archive's layout: SETTING/ROW/seedS/foldF/{split.json,train/config.yaml,run.json}
for setting in paper few; do
  find "$work"/jobs/*/"$setting"/runs -name run.json 2>/dev/null | while read -r record; do
    run=$(dirname "$record") rel=${record#"$work"/jobs/*/"$setting"/runs/}
    [[ ,$seeds, == *,$(basename "$(dirname "$(dirname "$rel")")" | sed 's/^seed//'),* ]] || continue  # not one restored from the archive
    target=$work/records/$setting/$(dirname "$rel")
    [[ -f $target/run.json ]] && continue  # the same run, restored into another job's folder
    mkdir -p "$target/train"
    cp "$run/split.json" "$run/run.json" "$target/" && cp "$run/train/config.yaml" "$target/train/"
    echo "finished: $setting/$(dirname "$rel")" >> "$summary"
  done
done
echo "$(grep -c '^finished' "$summary") runs finished" | tee -a "$summary"
cat "$out/parallel.log" >> "$summary"
tar -czf "$out/table2_records.tar.gz" -C "$work/records" .
(cd "$work/jobs" && tar -czf "$out/logs.tar.gz" ./*.log $([[ -d mps-log ]] && echo mps-log))
