#!/usr/bin/env bash
# Issue 23's Table 2 campaign: the five Table 2 rows, mean teacher on and off, at one label setting, seed by
# seed, on the realistic preset at the budget the learning curves chose (2000 steps; ablation_results.md).
#
#   benchmarks/table2_campaign.sh SETTING SEEDS WORK
#     SETTING  paper: ED/ES traced in every training video (label fraction 1, the paper's Table 1)
#              few:   ED/ES traced in 1/8 of the training videos (label fraction 0.125, our few-label setting)
#              data:  only synthesize the dataset, WORK/data (SEEDS is ignored)
#     SEEDS    comma-separated training seeds, run one after the other (e.g. 0,1,2,3,4)
#     WORK     a folder outside the repository: the dataset and the run folders (checkpoints: ~1 GB)
#
# Each run takes 2-16 minutes on a free core (up to 70 beside other jobs), so the campaign spans sessions; a machine may be lost between
# them. What a finished run's numbers need (run.json with its per-video scores, split.json and
# train/config.yaml, ~13 KB) is therefore archived into benchmarks/table2_runs/SETTING/ROW/seedS/foldF/ as it finishes
# (commit it), and restored from there before ablation runs: ablation skips a run whose run.json exists
# and refuses one whose config.yaml differs, so an archived run is never trained again nor mixed with
# other settings. When every seed is archived, the same command with all seeds writes the table without
# training: WORK/SETTING/ablation_table.md.
# Optional: VARIANTS=baseline,sscf runs only those rows; DEVICE=cuda trains there (runtime.device is not part of a
# run's identity, so such runs join the same table); benchmarks/table2_parallel.sh runs many at once;
# FINISHED_ONLY=1 trains nothing and writes an interim table from the archived runs of SEEDS
# (`ablation --finished-only`: runs not archived yet are listed as not run).
set -euo pipefail
[[ $# -eq 3 ]] || { sed -n '4,10p' "$0"; exit 2; }
setting=$1 seeds=$2 work=$3
case $setting in
  paper) fraction=1 ;;
  few) fraction=0.125 ;;
  data) ;;
  *) echo "SETTING must be paper, few or data, not '$setting'" >&2; exit 2 ;;
esac
repo=$(cd "$(dirname "$0")/.." && pwd)
echoseg=${ECHOSEG:-$repo/.venv/bin/echoseg}
archive=$repo/benchmarks/table2_runs/$setting
data=$work/data out=$work/$setting
mkdir -p "$work"

if [[ ! -f $data/FileList.csv ]]; then  # the learning curves' dataset (EchoNet layout, ED/ES traced): 48 train, 8 validation, 40 test videos
  "$echoseg" synth "$data" --difficulty realistic --videos 96 --frames 64 --seed 11 \
    --splits 0.5 0.0834 0.4166 --no-progress
fi
[[ $setting == data ]] && exit 0

copy_run_record() {  # copy_run_record FROM_RUN_FOLDER TO_RUN_FOLDER: the files a finished run is known by
  mkdir -p "$2/train"
  for f in split.json train/config.yaml run.json; do  # run.json last: its presence means "finished"
    if [[ ! -f $2/$f ]]; then cp "$1/$f" "$2/$f.tmp" && mv "$2/$f.tmp" "$2/$f"; fi
  done
}

restore() {
  find "$archive" -name run.json | while read -r record; do
    run=$(dirname "$record"); target=$out/runs/${run#"$archive"/}
    [[ -f $target/run.json ]] || copy_run_record "$run" "$target"
  done
}

archive_finished() {
  [[ -d $out/runs ]] || return 0
  find "$out/runs" -name run.json | while read -r record; do
    run=$(dirname "$record"); target=$archive/${run#"$out"/runs/}
    [[ -f $target/run.json ]] || copy_run_record "$run" "$target"
  done
}

options=()
[[ -n ${VARIANTS:-} ]] && options+=(--variants "$VARIANTS")
[[ -n ${DEVICE:-} ]] && options+=(--set "runtime.device=$DEVICE")
[[ -n ${FINISHED_ONLY:-} ]] && options+=(--finished-only)
ablation() {  # ablation SEEDS
  OMP_NUM_THREADS=1 "$echoseg" ablation --data "$data" --format echonet --config cpu --out "$out" \
    --mean-teacher both --label-fractions "$fraction" --seeds "$1" --no-progress \
    --set optim.steps=2000 --set runtime.val_interval=100 --set runtime.threads=1 "${options[@]}"
}

mkdir -p "$archive"
restore
if [[ -n ${FINISHED_ONLY:-} ]]; then
  ablation "$seeds"
  echo "interim table: $out/ablation_table.md"
  exit 0
fi
archive_finished
(while sleep 120; do archive_finished; done) &
archiver=$!
trap 'kill $archiver 2>/dev/null || true' EXIT
IFS=, read -ra seed_list <<< "$seeds"
for seed in "${seed_list[@]}"; do
  start=$(date +%s)
  ablation "$seed"
  archive_finished
  echo "seed $seed of setting $setting: $(( ($(date +%s) - start) / 60 )) min wall ($(date -u +%FT%TZ))"
done
ablation "$seeds"  # every seed finished: the table over all of them, nothing trained
echo "table: $out/ablation_table.md"
