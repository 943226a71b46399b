"""The demo's results as the paper's tables (markdown), from the JSON files `hgr evaluate --json` wrote.

    python -m hgr.demo_world.report runs/demo/results [VARIANT]   # Tables 1, 5, 4, 6 and the Table 2 analogue

VARIANT is the shipped model whose Tables 1, 5 and 2 are printed (default: the one checkpoints/demo.pt names).
When the results folder has a `models/` folder beside it (as `hgr demo-world ship` leaves), each model's training
curve (validation rsum after every epoch) and minutes, from its `.done` file, follow.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

NAMES = {"full": "HGR (paper's encoder)", "no_graph_attention": "w/o graph attention",
         "no_role_awareness": "w/o role awareness", "no_hierarchical_video": "w/o hierarchical video",
         "vsepp": "VSE++ (global)", "spatiotemporal": "HGR + spatiotemporal video (ours)",
         "spatiotemporal_negatives": "HGR + spatiotemporal video + ground-truth hard negatives (ours)",
         "spatiotemporal_negatives_sum": "the same + phrase scores summed (paper's text after Eq. 12)"}
KINDS = ("switch_roles", "replace_actions", "replace_actors", "replace_scenes", "incomplete_events", "average")


def _row(name: str, m: dict) -> str:
    t, v = m["t2v"], m["v2t"]
    return (f"| {name} | {t['r1']:.1f} | {t['r5']:.1f} | {t['r10']:.1f} | {t['medr']:.0f} | {t['mnr']:.1f} | "
            f"{v['r1']:.1f} | {v['r5']:.1f} | {v['r10']:.1f} | {v['medr']:.0f} | {v['mnr']:.1f} | {m['rsum']:.1f} |")


HEAD = ("| | T2V R@1 | R@5 | R@10 | MedR | MnR | V2T R@1 | R@5 | R@10 | MedR | MnR | rsum |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|")


def tables(results: dict[str, dict], shipped: str) -> str:
    """results: {'<variant>.<split>': evaluate JSON}."""
    out = []
    test = results[f"{shipped}.test"]
    out.append(f"**Table 1** (shipped model, {NAMES[shipped]}; test split, {test['videos']} videos x "
               f"{test['captions']} unique captions)\n\n{HEAD}\n{_row('fused', test)}")
    rows = "\n".join(_row(level, test["levels"][level]) for level in ("event", "action", "entity", "fused"))
    out.append(f"**Table 5** (each level alone, same model and split)\n\n{HEAD}\n{rows}")
    rows = [f"| {NAMES[v]} | {r['rsum']:.1f} | {results[f'{v}.test_novel']['rsum']:.1f} | "
            f"{(r.get('binary_selection') or {}).get('average', float('nan')):.1f} |"
            for v, r in ((k.split('.')[0], r) for k, r in results.items() if k.endswith(".test"))]
    out.append("**Table 4** (ablations, same training budget; rsum on test and on held-out compositions, binary "
               "selection average)\n\n| model | rsum test | rsum test_novel | binary selection avg (%) |\n"
               "|---|---|---|---|\n" + "\n".join(rows))
    rows = [f"| {NAMES[v]} | " + " | ".join(f"{(r.get('binary_selection') or {}).get(k, float('nan')):.1f}"
                                             for k in KINDS) + " |"
            for v, r in ((k.split('.')[0], r) for k, r in results.items() if k.endswith(".test"))]
    out.append("**Table 6** (binary selection accuracy, %; chance is 50)\n\n| model | " + " | ".join(KINDS) +
               " |\n|---|" + "---|" * len(KINDS) + "\n" + "\n".join(rows))
    novel = results[f"{shipped}.test_novel"]
    out.append(f"**Table 2 analogue** (held-out actor-action-scene compositions, never seen in training; "
               f"{novel['videos']} videos)\n\n{HEAD}\n{_row('test (seen compositions)', test)}\n"
               f"{_row('test_novel (held out)', novel)}")
    return "\n\n".join(out)


def training(models: Path) -> str:
    """Validation rsum after each epoch and training minutes of every `<variant>.done` in `models`."""
    done = {p.name[:-len(".done")]: json.loads(p.read_text()) for p in sorted(models.glob("*.done"))}
    done = {v: done[v] for v in NAMES if v in done}
    if not done:
        return ""
    epochs = max(len(d["history"]) for d in done.values())
    rows = []
    for v, d in done.items():
        curve = [f"**{h['val_rsum']:.1f}**" if h["epoch"] == d["best_epoch"] else f"{h['val_rsum']:.1f}"
                 for h in d["history"]]
        rows.append(f"| {NAMES[v]} | " + " | ".join(curve + [""] * (epochs - len(curve))) + f" | {d['minutes']:.1f} |")
    return ("**Training** (validation rsum after each epoch, best in bold; minutes of training on the machine it ran "
            "on)\n\n| model | " + " | ".join(str(e) for e in range(1, epochs + 1)) + " | min |\n|---|"
            + "---|" * (epochs + 1) + "\n" + "\n".join(rows))


def main(folder: str) -> None:
    results = {p.name[:-len(".json")]: json.loads(p.read_text()) for p in sorted(Path(folder).glob("*.json"))}
    if len(sys.argv) > 2:
        shipped = sys.argv[2]
    else:
        import hgr
        from hgr.demo_assets import DEMO_CHECKPOINT

        shipped = hgr.load(DEMO_CHECKPOINT, device="cpu").card.get("shipped_variant", "full")
    if f"{shipped}.test" not in results:
        raise SystemExit(f"no {shipped}.test.json in {folder}: name a variant that was evaluated")
    print(tables(results, shipped))
    if curves := training(Path(folder).parent / "models"):
        print("\n" + curves)


if __name__ == "__main__":
    main(sys.argv[1])
