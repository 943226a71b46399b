"""The command line imports what a command needs when it runs (issue 16 item 9): `hgr --help` no torch, and
`hgr parse` none of the model, checkpoint or app modules. Each check runs in a fresh interpreter."""
from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("torch", "numpy", "networkx", "gradio", "plotly", "spacy")


def _imported_after(code: str) -> set[str]:
    """The top-level and hgr modules a fresh interpreter holds after running `code`."""
    script = f"{code}\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    return set(json.loads(out.strip().splitlines()[-1]))


def test_help_imports_nothing_heavy():
    modules = _imported_after("from hgr.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass")
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))
    assert not any(m.startswith(("hgr.model", "hgr.checkpoint", "hgr.app", "hgr.parsing")) for m in modules)


def test_each_command_builds_its_arguments_without_the_model():
    """Building a command's arguments (what `hgr CMD --help` does) imports only that command's module chain."""
    modules = _imported_after("from hgr.cli import build_parser\nbuild_parser('parse')")
    assert not any(m.startswith(("hgr.model", "hgr.checkpoint", "hgr.app", "hgr.search")) for m in modules)
    assert not modules & {"torch", "networkx", "gradio", "plotly"}


def test_parse_needs_no_model_app_or_graph_drawing():
    modules = _imported_after("from hgr.cli import main\nmain(['parse', '--rules', 'a dog chases a cat'])")
    assert "hgr.parsing.cli" in modules
    assert not any(m.startswith(("hgr.model", "hgr.checkpoint", "hgr.app", "hgr.search")) for m in modules)
    assert not modules & {"networkx", "gradio", "plotly"}


def test_the_package_still_exposes_load_and_the_model():
    import hgr
    from hgr.checkpoint import load
    from hgr.model import HGR
    assert hgr.load is load and hgr.HGR is HGR
    assert "load" in dir(hgr) or "load" in hgr.__all__
