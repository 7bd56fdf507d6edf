"""Where weights files lie: the layout of a training run's checkpoints, and `find_weights`, which turns
what a user gives (`--checkpoint`: a file, a folder, a run folder, a folder holding one run) into
one weights file.

    RUN/config.yaml
    RUN/checkpoints/last/   student.safetensors, teacher.safetensors (mean teacher), model.safetensors,
                            train_state.pt
    RUN/checkpoints/best/   student/teacher.safetensors, model.safetensors (the better one)

The layout is spelled here, below inference and training, so `predict` finds weights without
importing training; `echoseg.training.run_folder.RunFolder` writes it with these names.
"""

from __future__ import annotations

import logging
from pathlib import Path

from echoseg.errors import CheckpointError
from echoseg.models.checkpoint import WEIGHTS_NAME

log = logging.getLogger(__name__)

CONFIG_NAME = "config.yaml"
CHECKPOINTS_DIR = "checkpoints"
BEST, LAST = "best", "last"
STATE_NAME = "train_state.pt"


def weights_name(which: str) -> str:
    """The file of one network in a checkpoint folder: "student" -> student.safetensors."""
    return f"{which}.safetensors"


def checkpoint_folder(checkpoints: Path, name: str, required: str) -> Path | None:
    """The complete checkpoint folder `name` (holding `required`), or its previous version if a kill
    interrupted the swap; None if there is none."""
    for candidate in (checkpoints / name, checkpoints / f".{name}.old"):
        if (candidate / required).is_file():
            return candidate
    return None


def run_weights(run: Path, name: str) -> Path | None:
    """RUN/checkpoints/NAME/model.safetensors of a complete checkpoint folder, else None."""
    folder = checkpoint_folder(Path(run) / CHECKPOINTS_DIR, name, STATE_NAME if name == LAST else WEIGHTS_NAME)
    return folder / WEIGHTS_NAME if folder else None


def find_weights(path: str | Path) -> Path:
    """The weights file meant by `path`: the file itself; in a folder its model.safetensors or
    best/model.safetensors; in a run folder checkpoints/best/model.safetensors, else (a run without
    validation cases, or stopped before its first validation) checkpoints/last/ with a warning; in a
    folder holding one run folder (e.g. `runs/demo`, whose run is `runs/demo/train`) that run's.
    Anything else raises CheckpointError naming what was looked for, or the runs to choose from."""
    path = Path(path)
    if not path.is_dir():
        if not path.is_file():
            raise CheckpointError(f"{path}: checkpoint not found")
        return path
    for candidate in (path / WEIGHTS_NAME, path / BEST / WEIGHTS_NAME):
        if candidate.is_file():
            return candidate
    best = run_weights(path, BEST)
    if best is not None:
        return best
    last = run_weights(path, LAST) or (path / LAST / WEIGHTS_NAME if (path / LAST / WEIGHTS_NAME).is_file() else None)
    if last is not None:
        log.warning("%s: no best checkpoint (no validation cases, or stopped before the first validation); "
                    "using the last one, %s", path, last.parent)
        return last
    runs = runs_inside(path)
    if len(runs) == 1:
        log.info("%s: using the training run in %s", path, runs[0])
        return find_weights(runs[0])
    if runs:
        raise CheckpointError(f"{path}: holds {len(runs)} training runs; give one of them: "
                              + ", ".join(str(r) for r in runs[:10]) + (" ..." if len(runs) > 10 else ""))
    raise CheckpointError(f"{path}: no {WEIGHTS_NAME} here (nor in best/, checkpoints/best/, checkpoints/last/), "
                          "and no training run in its subfolders")


def runs_inside(folder: Path, depth: int = 2) -> list[Path]:
    """Run folders (config.yaml + a checkpoint) up to `depth` levels below `folder`, sorted."""
    found = set()
    for level in range(1, depth + 1):
        for config in folder.glob("/".join(["*"] * level) + "/" + CONFIG_NAME):
            if run_weights(config.parent, BEST) is not None or run_weights(config.parent, LAST) is not None:
                found.add(config.parent)
    return sorted(found)
