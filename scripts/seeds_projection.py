"""Check `seeds_needed` against what more seeds did: project every comparison of a summary from its first K seeds,
then score the same comparisons on all its seeds (a summary run with more seeds than a user would start with).

    python scripts/seeds_projection.py SUMMARY_CSV --first 3 --out projection.json

Writes, per comparison (each arm over the baseline, each generator arm over each other real-image arm), the gain,
Holm p and projected seeds from the first K seeds (null: more than stats.MOST_SEEDS), and the gain, Holm p and Holm
decision from every seed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))

from genaug.answer import gains, gains_over_real_arms, load_runs  # noqa: E402
from genaug.io import write_json  # noqa: E402

KEY = ["classifier", "regime", "size", "model", "train_set"]


def comparisons(df):
    """Every comparison of a summary's runs, keyed by cell, arm and the arm it is compared with."""
    base = gains(df).assign(reference="baseline")
    return (base, gains_over_real_arms(df))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("summary")
    ap.add_argument("--first", type=int, default=3, help="seeds the projection sees (the lowest K)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    df, _, _ = load_runs(args.summary)
    seeds = sorted(df["seed"].unique())
    early = df[df["seed"].isin(seeds[: args.first])]
    rows = []
    for few, every in zip(comparisons(early), comparisons(df)):
        merged = few.merge(every, on=[*KEY, "reference"], suffixes=("_few", "_all"))
        for r in merged.itertuples():
            rows.append({**{k: getattr(r, k) for k in [*KEY, "reference"]},
                         "gain_few": r.gain_few, "p_holm_few": r.p_holm_few, "real_few": bool(r.real_few),
                         "seeds_needed_few": None if r.seeds_needed_few == float("inf") else r.seeds_needed_few,
                         "gain_all": r.gain_all, "p_holm_all": r.p_holm_all, "real_all": bool(r.real_all),
                         "seeds_all": int(r.n_pairs_all)})
    rows.sort(key=lambda r: r["seeds_needed_few"] or float("inf"))
    write_json(args.out, {"summary": args.summary, "first_seeds": [int(s) for s in seeds[: args.first]],
                          "all_seeds": [int(s) for s in seeds], "comparisons": rows})
    for r in rows:
        print(f"{r['model']:>22} over {r['reference']:<11} first {args.first}: {r['gain_few']:+.4f} "
              f"p {r['p_holm_few']:.3g} needs {str(r['seeds_needed_few'] or 'more'):>4}  |  all {r['seeds_all']}: "
              f"{r['gain_all']:+.4f} p {r['p_holm_all']:.3g} {'real' if r['real_all'] else ''}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
