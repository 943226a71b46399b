"""One home for each idea, and imports that follow the data flow (STYLE.md): read off the package's source."""
from __future__ import annotations

import ast
import shutil
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "hgr"


def _modules() -> dict[str, ast.Module]:
    return {str(p.relative_to(PACKAGE.parent)): ast.parse(p.read_text(encoding="utf-8"))
            for p in PACKAGE.rglob("*.py") if "parsing" not in p.parts}


def _defined(tree: ast.Module) -> set[str]:
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def _imports(tree: ast.Module, skip_functions: tuple[str, ...] = ()) -> set[str]:
    """Modules imported anywhere in `tree`, except inside the top-level functions named in `skip_functions`."""
    skipped = {id(n) for f in tree.body if isinstance(f, ast.FunctionDef) and f.name in skip_functions
               for n in ast.walk(f)}
    return {node.module for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module and id(node) not in skipped}


def test_each_idea_is_defined_once():
    homes: dict[str, list[str]] = {}
    for path, tree in _modules().items():
        for name in _defined(tree):
            homes.setdefault(name, []).append(path)
    for name, home in [("NEG_INF", "hgr/model/config.py"), ("LEVELS", "hgr/model/hgr.py"),
                       ("resolve_device", "hgr/device.py"), ("select_frames", "hgr/video_io.py"),
                       ("select_rows", "hgr/video_io.py"), ("graph_lookup", "hgr/graph.py"),
                       ("DEMO_CHECKPOINT", "hgr/demo_assets.py"), ("open_official", "hgr/official.py"),
                       ("atomic_write", "hgr/atomic.py"), ("fsync_dir", "hgr/atomic.py"),
                       ("_remove_dead_temporaries", "hgr/atomic.py")]:
        assert homes.get(name) == [home], (name, homes.get(name))


def test_lower_layers_do_not_import_higher_ones():
    modules = _modules()
    for path, tree in modules.items():
        if path.startswith(("hgr/demo_world/", "hgr/collection/")) or path in ("hgr/inputs.py", "hgr/evaluate.py"):
            assert not any(m.startswith("hgr.app") for m in _imports(tree)), path
        if path.startswith("hgr/collection/") or path == "hgr/inputs.py":   # the CNN module is not a dependency
            assert "hgr.features" not in _imports(tree), path
    assert not any(m.startswith("hgr.demo_world") for m in _imports(modules["hgr/evaluate.py"], ("main",)))
    from_evaluate = {alias.name for node in ast.walk(modules["hgr/app/service.py"])
                     if isinstance(node, ast.ImportFrom) and node.module == "hgr.evaluate" for alias in node.names}
    assert "graph_lookup" not in from_evaluate                            # the app takes it from hgr.graph


def test_the_official_release_opens_without_word2int(parity_dir, tmp_path, capsys):
    """hgr evaluate and hgr serve open the release the same way: word2int.json is optional for both."""
    from hgr.cli import main

    root = shutil.copytree(parity_dir / "root", tmp_path / "root")
    (root / "annotation" / "RET" / "word2int.json").unlink()
    assert main(["evaluate", "--official-root", str(root), "--official-checkpoint", str(parity_dir / "checkpoint.pth"),
                 "--split", "tst", "--device", "cpu"]) == 0
    assert '"rsum": 445.0' in capsys.readouterr().out
