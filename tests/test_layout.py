"""The layering of tpworkers/: catalog (pure figures) <- measure (torch) and diagnose (pure) <- the
Django shell at the top. Every import is read from the source (module level and inside
functions), so an upward or circular import fails here before it can tangle the tree again."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "tpworkers"
# Lower layers may be imported by higher ones, never the other way; measure and diagnose are
# siblings and do not import each other.
LAYERS = {"catalog": 0, "measure": 1, "diagnose": 1}
SHELL = 2
PURE = ("catalog", "measure", "diagnose")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py") if "migrations" not in path.parts}


def resolve(name: str) -> str | None:
    """The tpworkers module an imported dotted name lives in (a module, or its package)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str) -> list[tuple[str, int, bool]]:
    """(imported tpworkers module, line, at module level) for every import in `module`."""
    tree = ast.parse(MODULES[module].read_text())
    top_level = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            target = resolve(name) if name.startswith("tpworkers") else None
            if target and target != module:
                found.append((target, node.lineno, id(node) in top_level))
    return found


def layer(module: str) -> tuple[str, int]:
    part = module.split(".")[1] if module.count(".") else ""
    return (part, LAYERS[part]) if part in LAYERS else ("shell", SHELL)


def test_it_only_imports_downwards():
    upward = []
    for module in MODULES:
        name, level = layer(module)
        for target, line, _ in imports_of(module):
            target_name, target_level = layer(target)
            sideways = level == target_level and name != target_name
            if target_level > level or sideways:
                upward.append(f"{module}:{line} imports {target} ({name} -> {target_name})")
    assert upward == []


def test_it_has_no_import_cycles():
    graph = {module: {target for target, _, _ in imports_of(module)} for module in MODULES}
    cycles = []

    def visit(module, path):
        for target in graph[module]:
            if target in path:
                # A package's __init__ is imported on the way to its submodules: not a cycle.
                if not module.startswith(target + "."):
                    cycles.append(" -> ".join(path[path.index(target):] + [target]))
            elif target not in done:
                visit(target, path + [target])
        done.add(module)

    done: set[str] = set()
    for module in MODULES:
        if module not in done:
            visit(module, [module])
    assert cycles == []


@pytest.mark.parametrize("room", PURE)
def test_it_keeps_django_out_of_the_pure_core(room):
    with_django = []
    for module, path in MODULES.items():
        if module.startswith(f"tpworkers.{room}"):
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                with_django += [f"{module}:{node.lineno}" for n in names if n.split(".")[0] in ("django", "channels", "celery")]
    assert with_django == []


def test_it_keeps_torch_out_of_catalog_and_diagnose():
    with_torch = []
    for module, path in MODULES.items():
        if module.startswith(("tpworkers.catalog", "tpworkers.diagnose")) or module == "tpworkers.measure.configs":
            for node in ast.walk(ast.parse(path.read_text())):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                with_torch += [f"{module}:{node.lineno}" for n in names if n.split(".")[0] == "torch"]
    assert with_torch == []


@pytest.mark.parametrize("entry", ["labapp.urls", "labapp.asgi"])
def test_it_serves_pages_without_importing_torch(entry):
    """The web process builds, estimates and refuses runs from torch-free configs; only the
    worker imports torch. Checked in a fresh interpreter, as daphne would import it."""
    probe = (f"import django, sys; django.setup(); import {entry}; "
             "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('tpworkers.measure.')))")
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120,
                            env={"DJANGO_SETTINGS_MODULE": "labapp.settings", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    loaded = result.stdout.strip()
    assert "'torch'" not in loaded, loaded
