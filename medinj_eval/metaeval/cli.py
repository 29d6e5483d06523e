"""``medinj-eval meta-eval PAIRS... [--prompt P ...]``: scorers against human labels."""

from __future__ import annotations

import argparse
from pathlib import Path

from medinj_eval.judge.cli import add_backend_arguments, config_for, make_config, open_cache


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="medinj-eval meta-eval",
        description="Agreement of BLEU, ROUGE, BERTScore and LLM judges with human labels.",
    )
    p.add_argument("pairs", type=Path, nargs="+", help="calibration JSON files or JSONL pairs")
    p.add_argument("--prompt", action="append", default=[], help="judge prompt (repeatable)")
    p.add_argument(
        "--judges",
        type=Path,
        help="a judges file: each judge (prompt, model, server) scores the pairs, and every "
        "two judges' agreement with the labels is compared",
    )
    p.add_argument("--out", type=Path, default=Path("metaeval"))
    p.add_argument("--resamples", type=int, default=1000, help="bootstrap draws")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--bertscore-encoder", help="default: the offline all-MiniLM-L6-v2")
    add_backend_arguments(p)
    return p


def meta_eval_command(argv: list[str]) -> None:
    from medinj_eval.judge.panel import load_panel
    from medinj_eval.metaeval.pairs import load_pairs
    from medinj_eval.metaeval.report import meta_evaluate, write_outputs
    from medinj_eval.metaeval.scoring import automatic_scores, judge_scores

    args = parser().parse_args(argv)
    pairs = load_pairs(args.pairs)
    scores: dict[str, list[float | None]] = dict(automatic_scores(pairs, args.bertscore_encoder))
    panel = load_panel(args.judges) if args.judges else None
    if args.prompt or panel:
        cache = open_cache(args)
        try:
            for name in args.prompt:
                config = make_config(args, name, cache)
                scores[f"judge:{config.prompt.name}"] = judge_scores(pairs, config)
            for spec in panel.judges if panel else []:
                scores[f"judge:{spec.name}"] = judge_scores(pairs, config_for(spec, args, cache))
        finally:
            cache.close()
    result = meta_evaluate(pairs, scores, args.resamples, args.seed)
    paths = write_outputs(result, args.out)
    print(f"{len(pairs)} pairs, {result['n_questions']} questions; scorer: pearson / missing")
    for name, stats in result["scorers"].items():
        r = stats["pearson"]
        print(f"  {name}: {'n/a' if r != r else f'{r:.3f}'} / {stats['n_missing']}")
    selection = result.get("judge_selection")
    if selection:
        print(f"judges by {selection['statistic']}: " + " > ".join(selection["ranking"]))
        for row in selection["pairs"]:
            diff = row[selection["statistic"]]
            verdict = "significant" if row["significant"] else "not significant"
            delta = f"{diff['delta']:+.3f}" if diff["delta"] == diff["delta"] else "n/a"
            print(f"  {row['a']} - {row['b']}: {delta} (BH p {row['p_bh']:.3g}, {verdict})")
    print("outputs: " + ", ".join(str(p) for p in paths))
