"""Predicates and candidate arguments from a dependency parse, with their features and a rule-based role guess.

For a predicate, the candidates are (1) the subtree of each dependent, (2) for a noun dependent (and the object
of a dependent preposition) its prepositional modifiers as separate phrases and the noun phrase without them, so
"putting [an egg] [into a cup] [in the kitchen]" is reachable whatever the PP attachment, and (3) walking up
through conj/xcomp/advcl/relcl/acl heads: the heads' other dependents (shared subjects, control) and, for a
relative or participle clause, the modified noun phrase. A classifier (labeller.py) then picks role or NONE.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

NOMINAL_TAGS = ("NN", "PRP", "CD", "WP", "WDT", "EX", "DT")
PUNCT_TAGS = {".", ",", ":", "``", "''", "-LRB-", "-RRB-", "HYPH", "NFP", "$", "#"}
QUOTES = {"``", "''", '"'}
CLIMB_DEPS = {"conj", "xcomp", "advcl", "relcl", "acl", "ccomp", "pcomp", "prep", "csubj", "dep", "parataxis",
              "acomp", "oprd", "attr", "amod", "appos", "pobj", "dobj", "nsubj", "npadvmod", "advmod"}
SKIP_DEPS = {"punct", "conj", "case", "det", "predet"}
NOUN_MOD_DEPS = {"prep", "relcl", "acl", "appos", "advmod", "npadvmod"}
MAX_CLIMB = 3

LOC_PREPS = {"in", "on", "at", "inside", "near", "under", "behind", "beside", "above", "below", "around",
             "between", "among", "outside", "within", "beneath", "underneath", "atop", "next", "alongside"}
DIR_PREPS = {"into", "onto", "toward", "towards", "through", "across", "along", "down", "up", "out", "off",
             "from", "past", "over", "away"}
TMP_PREPS = {"during", "before", "after", "until", "till", "since", "while", "when", "throughout"}
TMP_WORDS = {"now", "then", "today", "yesterday", "tomorrow", "always", "never", "still", "already", "again",
             "soon", "later", "often", "sometimes", "once", "ever", "recently", "finally", "currently", "yet",
             "when", "first", "before", "after", "tonight", "usually", "just"}
NEG_WORDS = {"not", "n't", "never", "no"}
DIR_ADVS = {"up", "down", "out", "back", "away", "off", "around", "over", "in", "inside", "outside", "forward",
            "home", "along", "across", "through", "together", "apart", "aside"}
PERSON_WORDS = {"man", "woman", "men", "women", "boy", "girl", "person", "people", "friend", "friends", "he",
                "she", "him", "her", "them", "they", "kid", "kids", "child", "children", "guy", "lady", "dog",
                "partner", "mother", "father", "family", "team", "someone", "others", "me", "us", "you"}


@dataclass(frozen=True)
class Candidate:
    """A phrase that may be an argument of a predicate: tokens start..end (inclusive), how it was reached."""

    start: int
    end: int
    anchor: int        # token index of the phrase's syntactic head
    path: str          # dependency path from the predicate, e.g. "dobj", "^conj.nsubj", "prep.pobj.prep"
    kind: str          # "sub" (whole subtree), "trim" (noun phrase without its modifiers), "mod" (a modifier)


# ---- lemmas without the slow attribute_ruler + lemmatizer pipes -----------------------------------------------
def lemma_of(tok) -> str:
    return _lemma(tok.lower_, tok.tag_)


@functools.lru_cache(maxsize=200_000)
def _lemma(lower: str, tag: str) -> str:
    """spaCy's English rule lemmatizer for verbs and nouns, cached by (word, tag)."""
    pos = "verb" if tag.startswith(("VB", "MD")) else "noun" if tag.startswith("NN") else ""
    if not pos or tag in ("VB", "VBP", "NN", "NNP"):
        return lower
    tables = _lemma_tables()
    index, exc, rules = (t.get(pos, {}) for t in tables)
    if lower in exc:
        return exc[lower][0]
    forms, oov = [], []
    for old, new in rules:
        if lower.endswith(old):
            form = lower[: len(lower) - len(old)] + new
            if form and form in index:
                forms.append(form)
            elif form:
                oov.append(form)
    return (forms or oov or [lower])[0]


@functools.lru_cache(maxsize=1)
def _lemma_tables() -> tuple[dict, dict, dict]:
    """The (index, exceptions, rules) tables of the packaged model's lemmatizer (loaded, not run)."""
    from hgr.parsing.spacy_nlp import load_spacy
    lookups = load_spacy().get_pipe("lemmatizer").lookups
    return tuple(lookups.get_table(n) for n in ("lemma_index", "lemma_exc", "lemma_rules"))


# ---- predicates ----------------------------------------------------------------------------------------------
def is_predicate(tok) -> bool:
    """Verbs that head a frame: VB* tokens that are not auxiliaries of another verb."""
    return tok.tag_.startswith("VB") and tok.dep_ not in ("aux", "auxpass")


def is_passive(pred) -> bool:
    if any(c.dep_ in ("nsubjpass", "auxpass", "csubjpass") for c in pred.children):
        return True
    # a participle modifier or coordinated participle: "a car parked ...", "is washed and dried"
    return pred.tag_ == "VBN" and pred.dep_ in ("acl", "amod", "conj") and not any(
        c.dep_ == "aux" and c.lower_ in ("have", "has", "had", "'ve") for c in pred.children)


# ---- candidates ----------------------------------------------------------------------------------------------
def _trim(doc, start: int, end: int) -> tuple[int, int]:
    """Drop edge punctuation, but keep a closing quote whose opening quote is inside the phrase."""
    while start < end and doc[start].tag_ in PUNCT_TAGS:
        start += 1
    while end > start and doc[end].tag_ in PUNCT_TAGS:
        if doc[end].tag_ in QUOTES and sum(doc[i].tag_ in QUOTES for i in range(start, end)) % 2 == 1:
            break
        end -= 1
    return start, end


def _nominal(tok) -> bool:
    return tok.tag_.startswith(NOMINAL_TAGS)


def candidates(doc, p: int) -> list[Candidate]:
    """Candidate argument phrases of the predicate at token p (no phrase contains p; spans are unique)."""
    pred = doc[p]
    out: dict[tuple[int, int], Candidate] = {}

    def add(start: int, end: int, anchor: int, path: str, kind: str) -> None:
        start, end = _trim(doc, start, end)
        if start <= p <= end or doc[start].tag_ in PUNCT_TAGS or (start, end) in out:
            return
        out[(start, end)] = Candidate(start, end, anchor, path, kind)

    def add_phrase(tok, path: str) -> None:
        add(tok.left_edge.i, tok.right_edge.i, tok.i, path, "sub")
        noun = tok
        if tok.dep_ == "prep":   # the object of a preposition: its own modifiers may belong to the verb
            noun = next((c for c in tok.children if c.dep_ in ("pobj", "pcomp")), None)
            if noun is None:
                return
        if not _nominal(noun) and tok is noun:
            return
        mods = [c for c in noun.rights if c.dep_ in NOUN_MOD_DEPS]
        if mods:
            add(tok.left_edge.i, mods[0].left_edge.i - 1, tok.i, path, "trim")
            for m in mods:
                if m.dep_ == "prep":
                    add(m.left_edge.i, m.right_edge.i, m.i, f"{path}.{m.dep_}", "mod")
        for c in noun.lefts:
            if c.dep_ == "poss" and tok is noun:
                add(c.left_edge.i, c.right_edge.i, c.i, f"{path}.poss", "mod")

    for child in pred.children:
        if child.dep_ not in SKIP_DEPS and not (child.dep_ == "cc" and child.i > p):
            add_phrase(child, child.dep_)
    # climb: shared subjects of coordinated verbs, control, relative and participle clauses
    branch, up = pred, ""
    for _ in range(MAX_CLIMB):
        head = branch.head
        if head is branch or branch.dep_ not in CLIMB_DEPS:
            break
        up += f"^{branch.dep_}"
        if head.tag_.startswith(("VB", "MD", "JJ")):
            for sib in head.children:
                if sib is not branch and sib.dep_ not in SKIP_DEPS and sib.dep_ != "cc":
                    add(sib.left_edge.i, sib.right_edge.i, sib.i, f"{up}.{sib.dep_}", "sub")
        elif _nominal(head) and branch.i > head.i:
            add(head.left_edge.i, branch.left_edge.i - 1, head.i, f"{up}.noun", "trim")
        if branch.dep_ not in ("conj", "prep", "pcomp", "xcomp", "advcl", "ccomp", "pobj"):
            break
        branch = head
    return list(out.values())


# ---- features ------------------------------------------------------------------------------------------------
def _bucket(n: int) -> str:
    return str(n) if -3 <= n <= 3 else ("near" if -6 <= n <= 6 else "far") + ("-" if n < 0 else "+")


def features(doc, p: int, cand: Candidate, passive: bool) -> list[str]:
    """String features of (predicate, candidate); hashed into the labeller's weight rows."""
    pred, anchor, first = doc[p], doc[cand.anchor], doc[cand.start]
    lem = lemma_of(pred)
    voice = "P" if passive else "A"
    side = "L" if cand.end < p else "R"
    path = cand.path
    head = anchor
    prep = ""
    if anchor.dep_ in ("prep", "agent") or anchor.tag_ in ("IN", "TO"):
        prep = anchor.lower_
        head = next((c for c in anchor.children if c.dep_ in ("pobj", "pcomp")), anchor)
    hl = lemma_of(head) if head.tag_.startswith("NN") else head.lower_
    mark = next((c.lower_ for c in anchor.children if c.dep_ in ("mark", "aux") and c.i < anchor.i), "")
    role = rule_role(doc, p, cand, passive)
    length = cand.end - cand.start + 1
    return [
        "b", f"p={path}", f"k={cand.kind}", f"pk={path}|{cand.kind}", f"v={voice}|{path}", f"s={side}|{path}",
        f"L={lem}", f"Lp={lem}|{path}", f"Lvp={lem}|{voice}|{path}", f"Ls={lem}|{side}|{cand.kind}",
        f"T={pred.tag_}|{path}", f"pd={pred.dep_}|{path}", f"pd2={pred.dep_}",
        f"at={anchor.tag_}|{path}", f"ad={anchor.dep_}", f"h={hl}", f"hp={hl}|{path}", f"ht={head.tag_}|{path}",
        f"f={first.lower_}|{path}", f"ft={first.tag_}|{path}", f"l={doc[cand.end].tag_}|{path}",
        f"pr={prep}|{path}", f"Lpr={lem}|{prep}", f"prh={prep}|{hl}", f"mk={mark}|{path}",
        f"d={_bucket(cand.anchor - p)}|{path}", f"n={min(length, 8)}|{cand.kind}",
        f"R={role}", f"Rp={role}|{path}", f"RL={role}|{lem}",
        f"w={anchor.lower_}|{anchor.dep_}",
    ]


# ---- rules ---------------------------------------------------------------------------------------------------
def rule_role(doc, p: int, cand: Candidate, passive: bool) -> str:
    """A hand-written PropBank role guess for a candidate, or NONE (also a feature of the learned labeller)."""
    pred, anchor = doc[p], doc[cand.anchor]
    dep = cand.path.rsplit(".", 1)[-1].lstrip("^")
    word = anchor.lower_
    copula = lemma_of(pred) == "be"
    if cand.kind == "mod" and not cand.path.startswith("prep"):
        if dep == "poss":
            return "NONE"
        return _prep_role(anchor, pred)
    if cand.path.endswith(".noun"):     # the noun a relative / participle clause modifies
        rel = cand.path.split(".")[0].split("^")[-1]
        if rel == "relcl":
            subj = next((c for c in pred.children if c.dep_ in ("nsubj", "nsubjpass")), None)
            if subj is not None and subj.tag_ not in ("WDT", "WP"):
                return "ARG1"
            return "ARG1" if passive or copula else "ARG0"
        return "ARG1" if passive or pred.tag_ == "VBN" else "ARG0"
    if dep in ("nsubj", "csubj"):
        if anchor.tag_ in ("WDT", "WP"):
            return "R-ARG1" if passive or copula else "R-ARG0"
        return "ARG1" if passive or copula else "ARG0"
    if dep in ("nsubjpass", "csubjpass"):
        return "R-ARG1" if anchor.tag_ in ("WDT", "WP") else "ARG1"
    if dep == "dobj":
        return "R-ARG1" if anchor.tag_ in ("WDT", "WP") else "ARG1"
    if dep == "agent":
        return "ARG0"
    if dep in ("dative", "iobj"):
        return "ARG2"
    if dep in ("attr", "acomp", "oprd"):
        return "ARG2" if copula else "ARG1" if dep == "attr" else "ARGM-PRD"
    if dep in ("ccomp", "xcomp"):
        return "ARG1" if "^" not in cand.path else "NONE"
    if dep == "prt":
        return "C-V"
    if dep == "neg":
        return "ARGM-NEG"
    if dep == "aux":
        return "ARGM-MOD" if anchor.tag_ == "MD" else "NONE"
    if dep == "prep":
        return _prep_role(anchor, pred)
    if dep == "npadvmod":
        return "ARGM-TMP" if word in TMP_WORDS or anchor.ent_type_ in ("DATE", "TIME") else "ARGM-EXT"
    if dep == "advmod":
        if word in NEG_WORDS:
            return "ARGM-NEG"
        if word in TMP_WORDS:
            return "ARGM-TMP"
        if word in ("here", "there", "where", "everywhere", "somewhere", "nearby"):
            return "ARGM-LOC"
        if word in DIR_ADVS:
            return "ARGM-DIR"
        if word in ("also", "however", "so", "too", "instead", "though", "anyway", "well"):
            return "ARGM-DIS"
        return "ARGM-MNR" if word.endswith("ly") else "ARGM-ADV"
    if dep == "advcl":
        mark = next((c.lower_ for c in anchor.children if c.dep_ in ("mark", "aux") and c.i < anchor.i), "")
        return {"because": "ARGM-CAU", "since": "ARGM-CAU", "to": "ARGM-PRP", "so": "ARGM-PRP",
                "when": "ARGM-TMP", "while": "ARGM-TMP", "after": "ARGM-TMP", "before": "ARGM-TMP",
                "until": "ARGM-TMP", "as": "ARGM-TMP"}.get(mark, "ARGM-ADV")
    return "NONE"


def _prep_role(prep_tok, pred) -> str:
    word = prep_tok.lower_
    obj = next((c for c in prep_tok.children if c.dep_ in ("pobj", "pcomp")), None)
    obj_word = obj.lower_ if obj is not None else ""
    if word in LOC_PREPS:
        return "ARGM-LOC"
    if word in DIR_PREPS:
        return "ARGM-DIR"
    if word in TMP_PREPS:
        return "ARGM-TMP"
    if word == "with":
        return "ARGM-COM" if obj_word in PERSON_WORDS else "ARGM-MNR"
    if word in ("like", "as", "by", "via"):
        return "ARGM-MNR"
    if word in ("for",):
        return "ARGM-PRP"
    if word in ("because", "due"):
        return "ARGM-CAU"
    if word in ("about", "of"):
        return "ARG1"
    return "ARG2"
