"""Training sentences from the annotated examples in PropBank's frame files (github.com/propbank/propbank-frames).

Each roleset's file shows how its verb's roles are numbered, with example sentences whose arguments are marked by
word positions. EWT has one or two sentences for many motion verbs that video captions use all the time ("circle",
"bump into", "trail": circle.01 and bump.01 number the mover ARG0), so the tagger guessed their numbering from
look-alike frames. The examples give it PropBank's own word on about 6,000 verbs.

    from hgr.parsing.propbank_frames import read_frame_examples
    sentences = read_frame_examples("propbank-frames/frames")   # GoldSentence list, one predicate each

Only verbal examples whose text has no trace tokens (`*T*-1`, `[ ]`, `that-1`) and whose arguments are all placed
(`start="?"` arguments are traces) are kept; arguments must not overlap each other or the verb. Every other verb in
such a sentence is unannotated, so these sentences are marked `complete=False`: training uses them for argument
tags only, never as negatives for predicate finding. The frame files are CC BY-SA 4.0, like the EWT annotation.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from hgr.errors import ParseError
from hgr.parsing.conll import GoldPredicate, GoldSentence

_TRACE = re.compile(r"[\[\]*]|^\S+-\d+$|^\d+-\S+$")      # *trace*, [*T*-1], [ ], that-1
_EXAMPLE_POS = re.compile(r"^\S+-([a-z]):")               # "follow-v: transitive", "following-n: arg 1 first"
_MERGED = {"ARGM-PNC": "ARGM-PRP"}                       # PropBank 3 folded purpose-not-cause into purpose


def read_frame_examples(frames_dir: str | Path, log=print) -> list[GoldSentence]:
    """Every usable verbal example of every `*.xml` frame file in `frames_dir`, as one-predicate gold sentences.

    A file that is not well-formed XML (the repository has had a few) is skipped and named in the log."""
    folder = Path(frames_dir)
    files = sorted(folder.glob("*.xml"))
    if not files:
        raise ParseError(f"no frame files (*.xml) in {folder}: give the frames/ folder of a propbank-frames checkout")
    out: list[GoldSentence] = []
    broken = []
    for path in files:
        try:
            root = ET.parse(path).getroot()
        except ET.ParseError as exc:
            broken.append(f"{path.name} ({exc})")
            continue
        for roleset in root.iter("roleset"):
            out.extend(_roleset_examples(roleset))
    if broken:
        log(f"skipped {len(broken)} frame file(s) that are not well-formed XML: {', '.join(broken)}")
    log(f"{len(out)} verbal example sentences from {len(files) - len(broken)} frame files in {folder}")
    return out


def _roleset_examples(roleset: ET.Element) -> list[GoldSentence]:
    lemma = roleset.get("id", "").split(".")[0]
    aliases = {(a.get("pos"), (a.text or "").strip().lower()) for a in roleset.iter("alias")}
    if not any(pos == "v" for pos, _ in aliases):
        return []
    not_verbs = {text for pos, text in aliases if pos != "v"} - {text for pos, text in aliases if pos == "v"}
    out = []
    for example in roleset.iter("example"):
        match = _EXAMPLE_POS.match(example.get("name", ""))
        if match and match.group(1) != "v":
            continue
        sent = _example(example, lemma, not_verbs)
        if sent is not None:
            out.append(sent)
    return out


def _example(example: ET.Element, lemma: str, not_verbs: set[str]) -> GoldSentence | None:
    text = example.findtext("text") or ""
    words = text.split()
    if not words or any(_TRACE.search(w) for w in words):
        return None
    rel = example.find(".//rel")
    if rel is None:
        return None
    try:
        rel_words = [int(i) for i in (rel.get("relloc") or "").split()]
    except ValueError:
        return None
    if not rel_words or max(rel_words) >= len(words):
        return None
    head = _head(words, rel_words, lemma)
    if words[head].lower() in not_verbs:
        return None
    args, taken = [], set(rel_words)
    for arg in example.iter("arg"):
        role = (arg.get("type") or "").strip()
        start, end = arg.get("start", "?"), arg.get("end", "?")
        if not role or not start.isdigit() or not end.isdigit():
            if role.startswith("ARG") and role[3:4].isdigit():
                return None                                  # a numbered role on a trace: the sentence lacks it
            continue
        span = set(range(int(start), int(end) + 1))
        if int(end) < int(start) or int(end) >= len(words) or span & taken:
            return None
        taken |= span
        args.append((int(start), int(end), _MERGED.get(role, role)))
    if not args:
        return None
    predicate = GoldPredicate(index=head, pos="VB", lemma=lemma, arguments=sorted(args))
    return GoldSentence(words=words, pos=[], predicates=[predicate], complete=False)


def _head(words: list[str], rel_words: list[int], lemma: str) -> int:
    """The verb among a multi-word rel ("has followed", "bump up"): the word that starts like the lemma."""
    stem = lemma.split("_")[0].lower()[:3]
    for i in rel_words:
        if words[i].lower().startswith(stem):
            return i
    return rel_words[-1]
