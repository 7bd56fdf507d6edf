"""The import rule of docs/architecture.md: every echoseg import points down the layers, never up."""

from __future__ import annotations

import ast
from pathlib import Path

import echoseg

PACKAGE = Path(echoseg.__file__).parent

# Bottom to top. A module may import modules of its own layer and of the layers below it.
LAYERS = [
    ("core", {"echoseg", "echoseg.errors", "echoseg.io", "echoseg.config"}),
    ("geometry", {"echoseg.geometry"}),
    ("data", {"echoseg.data"}),
    ("models", {"echoseg.models"}),
    ("training", {"echoseg.training"}),
    ("inference", {"echoseg.inference"}),
    ("evaluation", {"echoseg.evaluation"}),
    ("workflows", {"echoseg.workflows", "echoseg.pretrained"}),
    ("commands", {"echoseg.commands", "echoseg.cli", "echoseg.__main__"}),
]


def layer_of(module: str) -> int:
    """Index in LAYERS of the longest prefix naming `module` (a package covers its submodules)."""
    best, best_len = None, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_len:
                best, best_len = index, len(prefix)
    assert best is not None, f"{module} is in no layer of docs/architecture.md"
    return best


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path, name: str | None = None) -> list[tuple[int, str]]:
    """(line, module) of every echoseg import in the file (function-level ones included); `name` is
    the module the file is (default: from its place in the package)."""
    name = name or module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "echoseg"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] == "echoseg":
                found.append((node.lineno, target))
    return found


# Pairs of layers that may not meet although the order above would allow it: inference runs trained
# weights and must not need the trainer (weights are found by echoseg.models.weights_files).
FORBIDDEN = [("inference", "training")]


def upward_imports(path: Path, name: str | None = None) -> list[str]:
    name = name or module_name(path)
    own = layer_of(name)
    return [f"{path}:{line}: {LAYERS[own][0]} module {name} imports {target} ({LAYERS[layer_of(target)][0]})"
            for line, target in imported_modules(path, name)
            if layer_of(target) > own or (LAYERS[own][0], LAYERS[layer_of(target)][0]) in FORBIDDEN]


def test_every_module_belongs_to_a_layer_and_imports_only_downwards():
    modules = sorted(PACKAGE.rglob("*.py"))
    assert len(modules) > 50
    violations = [v for path in modules for v in upward_imports(path)]
    assert not violations, "imports that point up the layers:\n" + "\n".join(violations)


def test_the_rule_catches_upward_imports_also_inside_functions(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("from echoseg.geometry.disks import N_DISKS\n\n"
                     "def f():\n    from echoseg.evaluation.ef import ef_agreement\n    from . import schema\n")
    found = upward_imports(probe, "echoseg.data.probe")
    assert len(found) == 1 and "imports echoseg.evaluation.ef (evaluation)" in found[0]
    assert not upward_imports(probe, "echoseg.workflows.probe")
    probe.write_text("from echoseg.training.run_folder import RunFolder\n")
    (found,) = upward_imports(probe, "echoseg.inference.probe")
    assert "imports echoseg.training.run_folder (training)" in found
    assert layer_of("echoseg.cli") == len(LAYERS) - 1 and layer_of("echoseg.io") == 0


def test_the_model_registry_is_a_leaf():
    assert imported_modules(PACKAGE / "models" / "registry.py") == []
