"""The model shipped with echoseg (`sscf_cpu_synthetic.safetensors`, package data) and the recipe
that makes it (`echoseg.pretrained.recipe`, run as `python -m echoseg.pretrained.recipe`).
Importing this package imports nothing."""
