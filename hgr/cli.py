"""The `hgr` command line: one sub-command per module, each exposing `add_arguments(parser)` and `main(args)`.

Run `hgr --help` for the list. Errors derived from `hgr.errors.HGRError` are printed as one line, without
a traceback, and exit with status 2.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from hgr.errors import HGRError

# command name -> (module, one-line help). Modules are imported only when their command runs.
COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("hgr.train", "train HGR on a collection or the official release in place (resumable, best epoch "
              "by validation rsum)"),
    "evaluate": ("hgr.evaluate", "score a split with the paper's protocol (ours or the official release)"),
    "parse": ("hgr.parsing.cli", "typed sentences or AllenNLP SRL output -> official role graphs"),
    "srl-eval": ("hgr.parsing.srl_eval", "score the semantic role parser on CoNLL-2012 gold (verbal predicates)"),
    "srl-train": ("hgr.parsing.srl_train", "train the semantic role parser (transformer or spaCy backend) on "
                  "CoNLL-2012 gold"),
    "index": ("hgr.indexer", "index a folder of videos into a collection (CNN frame features, resumable)"),
    "captions": ("hgr.collection.captions", "your captions (JSON or CSV) -> a collection's captions, role graphs "
                 "and splits, to train on"),
    "serve": ("hgr.app.server", "the web app: search a collection and see why it ranked that way"),
    "search": ("hgr.app.search_cli", "rank a collection's videos for one sentence (HGR fused scores, exact; "
               "two-stage from 20,000 videos)"),
    "demo-world": ("hgr.demo_world.cli", "generate the demo world: clips, captions, ground truth, splits"),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only `command`'s module is imported (so `hgr --help` and each command start fast)."""
    parser = argparse.ArgumentParser(prog="hgr", description="Hierarchical Graph Reasoning for video-text retrieval")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        cmd = sub.add_parser(name, help=help_text, description=help_text)
        cmd.set_defaults(_module=module)
        if name == command:
            importlib.import_module(module).add_arguments(cmd)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(command).parse_args(argv)
    if not getattr(args, "_module", None):
        build_parser().print_help()
        return 1
    try:
        return int(importlib.import_module(args._module).main(args) or 0)
    except HGRError as err:
        print(f"hgr {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"hgr {args.command}: interrupted", file=sys.stderr)
        return 130
