"""Workflows that orchestrate the layers below: the paper's protocols (cv, ablation, compare) and the demo.

Each one trains (`echoseg.training`), loads a segmenter (`echoseg.inference`), evaluates and reports
(`echoseg.evaluation`); the `echoseg` subcommands call them.
"""
