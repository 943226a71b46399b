"""`hgr search "a dog chases a cat"`: the app's text-to-video search from the command line.

    hgr search "a dog is chasing a cat on the grass"                  # the embedded demo
    hgr search "a man is playing a guitar" --collection DIR --checkpoint CKPT --top-k 5 --json
    hgr search "a dog is chasing a cat" --search two-stage --pool 100 --vector-db runs/first-stage.db   # Milvus Lite
"""
from __future__ import annotations

import argparse
import json

from hgr.app.server import add_data_arguments, first_stage_note, load_service
from hgr.model import LEVELS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("query", help="the sentence to search for")
    add_data_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print the /search API's JSON")


def main(args: argparse.Namespace) -> int:
    service = load_service(args)
    result = service.search(args.query, args.top_k)
    if args.json:
        print(json.dumps(result))
        return 0
    for warning in result["warnings"] + ([service.parser_warning] if service.parser_warning else []):
        print(f"note: {warning}")
    if result["familiarity"]["caveat"]:
        print(f"caveat: {result['familiarity']['caveat']}")
    print(f"query: {result['query']}")
    print(f"search: {service.plan.describe()}")
    if note := first_stage_note(service):
        print(note)
    print(f"{'rank':>4}  {'video':<20} " + " ".join(f"{level:>7}" for level in LEVELS) + "  what it is")
    for r in result["results"]:
        print(f"{r['rank']:>4}  {r['video_id']:<20} " + " ".join(f"{r['scores'][lv]:7.3f}" for lv in LEVELS)
              + f"  {r['description']}")
    return 0
