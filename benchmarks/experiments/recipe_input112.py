"""Experiment, not shipped: the built-in model's recipe at input 112x112 instead of 64x64 (issue 22 item 3).

    python benchmarks/experiments/recipe_input112.py OUT SEED THREADS

The recipe unchanged (data, steps, augmentation) but for data.input_size, runtime.seed and runtime.threads.
Copy or link an earlier recipe run's OUT/data into OUT first to skip the synthesis. Results:
benchmarks/RESULTS.md, "Input 112x112".
"""
import sys

from echoseg.pretrained import recipe

out, seed, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
overrides = [o for o in recipe.RECIPE["overrides"] if not o.startswith(("runtime.seed=", "runtime.threads="))]
recipe.RECIPE["overrides"] = overrides + [f"runtime.seed={seed}", f"runtime.threads={threads}",
                                          "data.input_size=[112,112]"]
print(recipe.RECIPE["overrides"], flush=True)
result = recipe.make_pretrained(out, progress=False)
print(result.summary, flush=True)
