"""`hgr parse`: typed sentences or AllenNLP SRL output -> official role graphs.

    hgr parse "a dog is chasing a cat in the park"            # readable tree
    hgr parse "a dog is chasing a cat in the park" --json     # official [graph_nodes, graph_edges]
    hgr parse --file captions.txt --out sent2rolegraph.json   # one sentence per line, keyed by the line as given
    hgr parse --file captions.txt --out g.json --precision bf16  # faster with CPU bfloat16; ~1 graph in 120 differs
    hgr parse --from-srl sent2srl.json --out sent2rolegraph.json
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hgr.errors import ParseError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sentence", nargs="?", help="a sentence to parse (quote it)")
    parser.add_argument("--json", action="store_true", help="print the official [nodes, edges] JSON")
    parser.add_argument("--file", help="text file, one sentence per line")
    parser.add_argument("--from-srl", dest="from_srl", help="AllenNLP output file {sentence: srl_output}")
    parser.add_argument("--out", help="write {sentence: [graph_nodes, graph_edges]} to this JSON file")
    parser.add_argument("--batch-size", type=int, default=256, help="sentences per batch")
    from hgr.parsing.backend import BACKENDS, DEFAULT_BACKEND
    parser.add_argument("--backend", choices=BACKENDS, default=DEFAULT_BACKEND,
                        help=f"transformer: the fine-tuned MiniLM SRL tagger; spacy: spaCy's parse and the candidate "
                        f"labeller (default {DEFAULT_BACKEND})")
    parser.add_argument("--rules", action="store_true", help="spacy backend with hand-written role rules")
    from hgr.parsing.backend import PRECISIONS
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32",
                        help="transformer: fp32 (how collections and queries are parsed) or bf16 autocast (faster "
                        "on CPUs with AVX-512 BF16 or AMX; about 1 graph in 120 differs)")
    parser.add_argument("--workers", type=int, default=None,
                        help="threads for --file with the transformer (default: one per core, at most 4, for "
                        "2,000+ sentences; 1 on a GPU)")


def main(args: argparse.Namespace) -> int:
    sources = [x for x in (args.sentence, args.file, args.from_srl) if x is not None]
    if len(sources) != 1:
        raise ParseError("give exactly one of: a sentence, --file FILE, --from-srl FILE")
    if args.from_srl:
        return _write(_from_srl(Path(args.from_srl)), args.out)
    if args.file is not None:
        return _write(_from_file(Path(args.file), args), args.out)
    from hgr.parsing.bulk import sentence_parser
    graph = sentence_parser(_backend(args), rules=args.rules, precision=args.precision).parse(args.sentence)
    if args.out:
        return _write({args.sentence: graph.to_json()}, args.out)
    print(json.dumps(graph.to_json()) if args.json else str(graph))
    return 0


def _backend(args: argparse.Namespace) -> str:
    return "spacy" if args.rules else args.backend         # --rules: the spaCy backend's hand-written rules


def _from_file(path: Path, args: argparse.Namespace) -> dict:
    from hgr.parsing.bulk import parse_bulk
    from hgr.parsing.parser import ParserConfig, sentence_words
    if not path.exists():
        raise ParseError(f"sentence file not found: {path}")
    lines = [line.rstrip("\r\n") for line in path.read_text(encoding="utf-8", errors="replace").splitlines()]
    sentences, skipped, config = [], 0, ParserConfig()
    for line in dict.fromkeys(lines):            # unique, in file order
        try:
            sentence_words(line, config)
            sentences.append(line)
        except ParseError:
            skipped += 1
    if skipped:
        print(f"skipped {skipped} line(s) without any word", file=sys.stderr)
    graphs = parse_bulk(sentences, _backend(args), rules=args.rules, precision=args.precision, workers=args.workers,
                        batch_size=args.batch_size, progress=True)
    return {line: graph.to_json() for line, graph in zip(sentences, graphs)}


def _from_srl(path: Path) -> dict:
    from hgr.parsing.parser import graph_from_srl
    if not path.exists():
        raise ParseError(f"SRL file not found: {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ParseError(f"{path} is not JSON ({err}); expected {{sentence: AllenNLP SRL output}}") from err
    if not isinstance(data, dict):
        raise ParseError(f"{path} must hold a JSON object {{sentence: AllenNLP SRL output}}")
    out = {}
    for sentence, srl in data.items():
        try:
            out[sentence] = graph_from_srl(srl).to_json()
        except ParseError as err:
            raise ParseError(f"{path}: sentence {sentence[:60]!r}: {err}") from err
    return out


def _write(graphs: dict, out: str | None) -> int:
    if out is None:
        print(json.dumps(graphs, ensure_ascii=False))
        return 0
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(out).with_suffix(".tmp")
    tmp.write_text(json.dumps(graphs, ensure_ascii=False), encoding="utf-8")
    tmp.replace(out)
    print(f"wrote {len(graphs)} role graphs to {out}", file=sys.stderr)
    return 0
