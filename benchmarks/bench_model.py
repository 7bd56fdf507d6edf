"""Model benchmark script: the same as `echoseg bench model ...` (see `--help`).

    PYTHONPATH=src python benchmarks/bench_model.py --quick
    PYTHONPATH=src python benchmarks/bench_model.py --size 256 --width 1.0 --json benchmarks/model.json
"""

import sys

from echoseg.cli import main

if __name__ == "__main__":
    main(["bench", "model", *sys.argv[1:]])
