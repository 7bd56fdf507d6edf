"""echoseg's benchmarks: measurements beside the tests, not inside them (results in RESULTS.md,
ablation_results.md, compare_results.md). One convention: run from the repository root as
`python -m benchmarks.NAME --help`; shared helpers are in `benchmarks.common`.
"""
