#!/usr/bin/env bash
# Many Table 2 campaign jobs at once, for a machine with more cores (or a GPU) than this one:
# benchmarks/table2_campaign.sh once per (setting, seed, row), JOBS at a time.
#
#   benchmarks/table2_parallel.sh SETTINGS SEEDS WORK JOBS
#     SETTINGS  comma-separated: paper,few
#     SEEDS     comma-separated training seeds, e.g. 2,3,4
#     WORK      a folder outside the repository; the dataset is made once in WORK/data (or put there first),
#               each job runs in WORK/jobs/SETTING-sSEED-ROW and logs to WORK/jobs/SETTING-sSEED-ROW.log
#     JOBS      how many jobs run at once (each trains with one CPU thread)
#   ROWS="unet baseline" runs only those rows, in that order (default: all five, longest first)
#   DEVICE=cuda trains on the GPU (the runs join the same table: runtime.device is not part of a run's identity).
#
# Finished runs land in benchmarks/table2_runs/ as with the campaign; the table is written by the campaign
# command with all seeds once every run is there.
set -euo pipefail
[[ $# -eq 4 ]] || { sed -n '5,12p' "$0"; exit 2; }
settings=$1 seeds=$2 work=$3 jobs=$4
campaign=$(cd "$(dirname "$0")" && pwd)/table2_campaign.sh
"$campaign" data - "$work"
mkdir -p "$work/jobs"
IFS=, read -ra setting_list <<< "$settings"
IFS=, read -ra seed_list <<< "$seeds"
for seed in "${seed_list[@]}"; do
  for setting in "${setting_list[@]}"; do
    for row in ${ROWS:-sscf baseline_tce baseline_bssf baseline unet}; do  # longest first: the pool ends evenly
      echo "$setting $seed $row"
    done
  done
done | xargs -P "$jobs" -L 1 bash -c '
  campaign=$0 work=$1 setting=$2 seed=$3 row=$4
  job=$work/jobs/$setting-s$seed-$row
  mkdir -p "$job" && ln -sfn "$work/data" "$job/data"
  if VARIANTS=$row "$campaign" "$setting" "$seed" "$job" > "$job.log" 2>&1; then echo "done: $setting seed $seed $row"
  else echo "failed: $setting seed $seed $row (see $job.log)"; fi' "$campaign" "$work"
