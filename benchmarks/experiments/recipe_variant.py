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

Three kinds of OVERRIDE change the realistic picture of the data this run synthesizes instead (give OUT no
data/ then; runs with the same picture can share one OUT/data):
- `levels.NAME=LOW,HIGH`: the range (dB) each video draws scene level NAME from (`scene.REALISTIC_LEVELS_DB`);
- `scene.NAME=VALUE`: a constant of `echoseg.data.synthetic.scene` (e.g. `scene.SEPTAL_LOSS=(0.0,1.0)`);
- `preset.NAME=VALUE`: a field of the realistic ImagingPreset (e.g. `preset.psf_depth=(1.2,3.0)`);
- `geometry.NAME=VALUE`: a constant of `echoseg.data.synthetic.geometry` (e.g. `geometry.SYSTOLIC_THICKENING=(0.3,0.8)`).
Used for "Appearance landmarks drawn wider": `OUT SEED 1 levels.pericardium=4,27 levels.annulus=2,26
levels.blood=-36,-12 scene.SEPTAL_LOSS=(0.0,1.0) preset.psf_depth=(1.2,3.0) preset.psf_beam=(0.8,2.4)`.
"""
import ast
import dataclasses
import sys

from echoseg.data.synthetic import geometry, imaging, scene
from echoseg.pretrained import recipe

if len(sys.argv) < 4:
    sys.exit(__doc__)
out, seed, threads, extra = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
PICTURE = ("levels.", "scene.", "preset.", "geometry.")
for override in [o for o in extra if o.startswith(PICTURE)]:
    key, value = override.split("=", 1)
    kind, name = key.split(".", 1)
    if kind == "levels":
        if name not in scene.REALISTIC_LEVELS_DB:
            sys.exit(f"no realistic level {name!r}; known: {', '.join(scene.REALISTIC_LEVELS_DB)}")
        scene.REALISTIC_LEVELS_DB[name] = tuple(float(v) for v in value.split(","))
    elif kind in ("scene", "geometry"):
        module = scene if kind == "scene" else geometry
        if not hasattr(module, name):
            sys.exit(f"{module.__name__} has no {name!r}")
        setattr(module, name, ast.literal_eval(value))
    else:
        imaging.PRESETS["realistic"] = dataclasses.replace(imaging.PRESETS["realistic"], **{name: ast.literal_eval(value)})
    print(f"picture: {key} = {value}", flush=True)
extra = [o for o in extra if not o.startswith(PICTURE)]
overrides = [o for o in recipe.RECIPE["overrides"] if not o.startswith(("runtime.seed=", "runtime.threads="))]
recipe.RECIPE["overrides"] = overrides + [f"runtime.seed={seed}", f"runtime.threads={threads}", *extra]
print(recipe.RECIPE["overrides"], flush=True)
result = recipe.make_pretrained(out, progress=False)
print(result.summary, flush=True)
