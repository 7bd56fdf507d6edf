#!/usr/bin/env bash
# One call on a lent H100/H200 (about 8 minutes; give the call a 560 s limit): every GPU path of echoseg once,
# then the speed table. On 2026-12-04 the ten functional steps took 5 min on an H200 (benchmarks/RESULTS.md).
#
#   1. a paper-preset mean-teacher training (256x256, width 1.0, 4 dataloader workers) with bf16 autocast,
#      a short one with fp16 (gradient scaler) and one under torchrun (DDP, NCCL, one process);
#   2. evaluate and predict on cuda with the trained run (fp16 autocast, fp32, bf16) and the built-in model;
#   3. `echoseg adapt` on cuda (a few steps);
#   4. benchmarks/bench_gpu.py: inference frames/s per mode and mean-teacher training windows/s.
# Each step has its own time limit and a failed step does not stop the others; the summary lists each
# step's exit status and seconds. Everything goes to OUTDIR (default $OUT on the device machine).
#
# The GPU machine has PyTorch, OpenCV, safetensors, SciPy, PyYAML, tqdm and matplotlib but no network:
# download the two pure-Python wheels it lacks here first and carry the folder with the call:
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 -d .whl monai nibabel
#   (then: device run "bash benchmarks/gpu.sh" with carry [".whl"])
# Plumbing check on a CPU (tiny sizes, same steps): ECHOSEG_GPU_DRYRUN=1 bash benchmarks/gpu.sh /tmp/gpu-dry
set -uo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${1:-${OUT:-gpu-out}}")
mkdir -p "$out"
work=$(mktemp -d)
python=${PYTHON:-python3}
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1

if [[ -n "${ECHOSEG_GPU_DRYRUN:-}" ]]; then
  device=cpu; size=64; width=0.125; steps=6; frames=24; bench=(--device cpu --size 64 --width 0.125 --frames 8
    --train-steps 2 --reps 1 --no-compile)
else
  device=cuda; size=256; width=1.0; steps=150; frames=48; bench=(--size 256 --width 1.0 --frames 128 --batch-size 32)
fi
net=(--set "data.input_size=[$size,$size]" --set "model.settings.width=$width" --set "runtime.device=$device")

summary="$out/summary.txt"
: > "$summary"
step() {  # step NAME SECONDS COMMAND...: run with a time limit, log its status, never stop the script
  local name=$1 limit=$2 start rc
  shift 2
  start=$(date +%s)
  echo "=== $name: $*"
  timeout "$limit" "$@"
  rc=$?
  printf '%-34s rc %3d  %4d s\n' "$name" "$rc" "$(( $(date +%s) - start ))" | tee -a "$summary"
}

{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
  if ! "$python" -c "import monai, nibabel" 2>/dev/null; then
    "$python" -m pip install --quiet --no-index --no-deps --target "$work/site" .whl/*.whl \
      && export PYTHONPATH="$PYTHONPATH:$work/site"
  fi
  "$python" -c "import torch, echoseg; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), \
'echoseg', echoseg.__version__)"

  step synth 120 "$python" -m echoseg synth "$work/data" --format echonet --videos 12 --frames "$frames" --size 112 \
    --difficulty realistic --seed 3 --splits 0.5 0.17 0.33 --no-progress
  step "train paper bf16" 240 "$python" -m echoseg train --data "$work/data" --format echonet --config paper \
    --out "$work/run_bf16" "${net[@]}" --set "optim.steps=$steps" --set runtime.amp_dtype=bf16 \
    --set "runtime.val_interval=$(( steps / 3 ))" --no-progress
  step "train paper fp16 (scaler)" 150 "$python" -m echoseg train --data "$work/data" --format echonet \
    --config paper --out "$work/run_fp16" "${net[@]}" --set optim.steps=20 --set runtime.amp_dtype=fp16 \
    --set runtime.val_interval=10 --no-progress
  step "train torchrun (DDP, 1 proc)" 150 "$python" -m torch.distributed.run --standalone --nproc_per_node 1 \
    -m echoseg train --data "$work/data" --format echonet --config paper --out "$work/run_ddp" "${net[@]}" \
    --set optim.steps=10 --set runtime.amp_dtype=bf16 --set runtime.val_interval=5 --no-progress
  step "evaluate (cuda)" 120 "$python" -m echoseg evaluate --checkpoint "$work/run_bf16" --data "$work/data" \
    --format echonet --split test --out "$work/eval" --device "$device" --no-progress
  videos=("$work"/data/Videos/*.avi)
  for mode in default no-amp bf16; do
    extra=(); [[ $mode == no-amp ]] && extra=(--no-amp); [[ $mode == bf16 ]] && extra=(--bf16)
    step "predict $mode" 120 "$python" -m echoseg predict "${videos[@]:0:4}" --checkpoint "$work/run_bf16" \
      --out "$work/pred_$mode" --device "$device" "${extra[@]}" --no-crop
  done
  step "predict built-in model" 120 "$python" -m echoseg predict "${videos[@]:0:4}" --out "$work/pred_builtin" \
    --device "$device"
  step "adapt (cuda, 20 steps)" 200 "$python" -m echoseg adapt "${videos[@]:0:6}" --out "$work/adapt" --steps 20 \
    --synthetic-videos 12 --check-videos 4 --set "runtime.device=$device" --no-progress
  step "bench_gpu" 300 "$python" -m benchmarks.bench_gpu "${bench[@]}"

  # What autocast changes in predict's output: per-frame mask area against fp32, per video.
  "$python" - "$work" <<'EOF'
import csv, sys
from pathlib import Path
work = Path(sys.argv[1])
def areas(mode):
    return {f.parent.name: [float(r["area"]) for r in csv.DictReader(f.open())]
            for f in sorted((work / f"pred_{mode}").glob("*/frames.csv"))}
ref = areas("no-amp")
for mode in ("default", "bf16"):
    for video, area in areas(mode).items():
        diffs = [abs(a - b) / max(b, 1.0) for a, b in zip(area, ref.get(video, []))]
        if diffs:
            print(f"predict {mode} vs fp32, {video}: mask area differs by {100 * max(diffs):.2f}% at most "
                  f"({100 * sum(diffs) / len(diffs):.3f}% mean) over {len(diffs)} frames")
EOF
} 2>&1 | tee "$out/gpu.log"

cp "$work/run_bf16/metrics.csv" "$out/train_metrics.csv" 2>/dev/null
cp "$work/run_bf16/training_curves.png" "$out/" 2>/dev/null
find "$work/eval" -maxdepth 1 -name "*.json" -exec cp {} "$out/" \; 2>/dev/null
cp "$work/adapt/adapt_report.json" "$out/" 2>/dev/null
echo "wrote $out (summary.txt: one line per step)"
cat "$summary"
rm -rf "$work"
