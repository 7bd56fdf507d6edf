"""Experiments, not shipped: the built-in model's recipe with a few config overrides and another seed (issue 22 item 3).

    python benchmarks/experiments/recipe_variant.py OUT SEED THREADS [OVERRIDE ...]

The recipe unchanged (data, steps, augmentation) but for runtime.seed, runtime.threads and the OVERRIDEs
(`echoseg train --set` syntax), which come last and so win. Copy or link an earlier recipe run's OUT/data
into OUT first to skip the synthesis. Used for (benchmarks/RESULTS.md):
- "Input 112x112": `OUT SEED 2 data.input_size=[112,112]`;
- "Stronger appearance augmentation": `OUT SEED 1 augment.appearance.blur_prob=0.7
  augment.appearance.blur_sigma=1.8 augment.appearance.gamma=0.5 augment.appearance.contrast=0.4
  augment.appearance.gain=0.35 augment.appearance.dropout_prob=0.5`;
- "No appearance augmentation": `OUT SEED 1 augment.appearance.enabled=false`.
"""
import sys

from echoseg.pretrained import recipe

if len(sys.argv) < 4:
    sys.exit(__doc__)
out, seed, threads, extra = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
overrides = [o for o in recipe.RECIPE["overrides"] if not o.startswith(("runtime.seed=", "runtime.threads="))]
recipe.RECIPE["overrides"] = overrides + [f"runtime.seed={seed}", f"runtime.threads={threads}", *extra]
print(recipe.RECIPE["overrides"], flush=True)
result = recipe.make_pretrained(out, progress=False)
print(result.summary, flush=True)
