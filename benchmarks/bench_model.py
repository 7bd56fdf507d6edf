"""Model benchmark script: the same as `echoseg bench model ...` (see `--help`).

    python -m benchmarks.bench_model --quick
    python -m benchmarks.bench_model --size 256 --width 1.0 --json benchmarks/model.json
"""

import sys

from echoseg.cli import main

if __name__ == "__main__":
    main(["bench", "model", *sys.argv[1:]])
