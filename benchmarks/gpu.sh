#!/usr/bin/env bash
# One call on a lent H100/H200 (well under 8 minutes): SSCF at the paper's settings (256x256, width 1.0).
#
# The GPU machine has PyTorch, OpenCV, safetensors, SciPy, PyYAML, tqdm and matplotlib but no network:
# prepare the two pure-Python wheels it lacks here first, and carry the folder with the call:
#   pip download --no-deps -d .gpu-wheels monai nibabel     (then: run ... carry=[".gpu-wheels"])
# Then, on the GPU machine from the repository root: bash benchmarks/gpu.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if ! python3 -c "import monai, nibabel" 2>/dev/null; then
  python3 -m pip install --quiet --no-index --no-deps --find-links .gpu-wheels monai nibabel
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
timeout 420 python3 -m benchmarks.bench_gpu --size 256 --width 1.0 --frames 128 --batch-size 32 "$@"
