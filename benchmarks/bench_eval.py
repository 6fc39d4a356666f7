"""Evaluation metric throughput, each against a straightforward baseline measured in the same run.

    python benchmarks/bench_eval.py [--n 2000] [--png bench_eval.png]

Molecules: RDKit's bundled NCI set (first 5K SMILES). Baselines: the same quantity computed the plain way
(RDKit's BulkTanimotoSimilarity row by row for IntDiv / SNN, a bare RDKit loop for validity and exact
match, the `fcd` package called directly, the residue-matched TM-score for TM-align). A ratio above 1
means this package is faster than the baseline. Finishes in well under 2 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path


def load_smiles(n: int) -> list[str]:
    from rdkit import Chem, RDConfig

    from biomatrix_plugin.io import quiet_rdkit

    path = Path(RDConfig.RDDataDir) / "NCI" / "first_5K.smi"
    out = []
    with quiet_rdkit():
        for line in path.read_text().splitlines():
            smi = line.split()[0]
            if Chem.MolFromSmiles(smi) is not None:
                out.append(smi)
            if len(out) >= n:
                break
    return out


def timed(fn, repeat: int = 1):
    best, value = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - start)
    return best, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="molecules per set (max ~4900)")
    parser.add_argument("--png", help="also save a bar chart of the speed ratios")
    args = parser.parse_args()

    import numpy as np
    from rdkit import Chem, DataStructs
    from rdkit.Chem import rdFingerprintGenerator

    from biomatrix_plugin.eval import compute

    smiles = load_smiles(min(args.n * 2, 4900))
    gen, ref = smiles[: args.n], smiles[args.n: 2 * args.n] or smiles[: args.n]
    rng = random.Random(0)
    shuffled = [Chem.MolToSmiles(Chem.MolFromSmiles(s), doRandom=True) for s in gen]
    rows = []

    def morgan_fps(items):
        g = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=1024)
        return [g.GetFingerprint(Chem.MolFromSmiles(s)) for s in items]

    def intdiv_baseline():
        fps = morgan_fps(gen)
        return 1 - float(np.mean([np.mean(DataStructs.BulkTanimotoSimilarity(f, fps)) for f in fps]))

    t_ours, ours = timed(lambda: compute("intdiv1", gen).value, repeat=3)
    t_base, base = timed(intdiv_baseline, repeat=3)
    rows.append((f"IntDiv1 ({len(gen)} mols)", t_ours, t_base, abs(ours - base)))

    def snn_baseline():
        g, r = morgan_fps(gen), morgan_fps(ref)
        return float(np.mean([max(DataStructs.BulkTanimotoSimilarity(f, r)) for f in g]))

    t_ours, ours = timed(lambda: compute("snn", gen, ref).value, repeat=3)
    t_base, base = timed(snn_baseline, repeat=3)
    rows.append((f"SNN ({len(gen)} vs {len(ref)})", t_ours, t_base, abs(ours - base)))

    def validity_baseline():
        mols = [Chem.MolFromSmiles(s) for s in gen]
        return sum(m is not None for m in mols) / len(mols)

    t_ours, ours = timed(lambda: compute("validity", gen).value, repeat=3)
    t_base, base = timed(validity_baseline, repeat=3)
    rows.append((f"validity ({len(gen)})", t_ours, t_base, abs(ours - base)))

    def exact_baseline():
        hits = [Chem.MolToSmiles(Chem.MolFromSmiles(a)) == Chem.MolToSmiles(Chem.MolFromSmiles(b))
                for a, b in zip(shuffled, gen)]
        return sum(hits) / len(hits)

    t_ours, ours = timed(lambda: compute("exact_match", shuffled, gen).value, repeat=3)
    t_base, base = timed(exact_baseline, repeat=3)
    rows.append((f"exact_match ({len(gen)} pairs)", t_ours, t_base, abs(ours - base)))

    try:
        import fcd

        small_gen, small_ref = gen[:300], ref[:300]
        fcd.load_ref_model()  # load ChemNet once, outside both timings
        t_ours, ours = timed(lambda: compute("fcd", small_gen, small_ref).value)
        canon = lambda xs: [Chem.MolToSmiles(Chem.MolFromSmiles(s)) for s in xs]  # noqa: E731
        t_base, base = timed(lambda: fcd.get_fcd(canon(small_gen), canon(small_ref), device="cpu"))
        rows.append(("FCD (300 vs 300)", t_ours, t_base, abs(ours - base)))
    except ImportError:
        rows.append(("FCD: `fcd` not installed", float("nan"), float("nan"), float("nan")))

    from biomatrix_plugin.protein3d.comparison import tm_score as residue_tm

    chains = []
    rs = np.random.default_rng(0)
    for _ in range(20):
        steps = rs.normal(size=(150, 3))
        x = np.cumsum(3.8 * steps / np.linalg.norm(steps, axis=1, keepdims=True), axis=0)
        chains.append((x + rs.normal(scale=1.0, size=x.shape), x))
    tm_preds, tm_refs = [p.tolist() for p, _ in chains], [r.tolist() for _, r in chains]
    t_ours, ours = timed(lambda: compute("tm_score", tm_preds, tm_refs).value)
    t_base, base = timed(lambda: float(np.mean([residue_tm(p, r) for p, r in chains])))
    rows.append(("TM-score TM-align vs residue-matched (20 x 150 res)", t_ours, t_base, abs(ours - base)))

    sentences = [" ".join(rng.choice(["the", "protein", "binds", "zinc", "enzyme", "catalyses", "a", "reaction",
                                      "membrane", "located", "in", "cell"]) for _ in range(20)) for _ in range(300)]
    refs = sentences[1:] + sentences[:1]
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"])
    t_ours, ours = timed(lambda: compute("rouge_l", sentences, refs).value)
    t_base, base = timed(lambda: float(np.mean([scorer.score(r, p)["rougeL"].fmeasure
                                                for p, r in zip(sentences, refs)])))
    rows.append(("ROUGE-L (300 sentences)", t_ours, t_base, abs(ours - base)))

    print(f"{'metric':54s} {'ours (s)':>9s} {'baseline (s)':>13s} {'speed ratio':>12s} {'|diff|':>9s}")
    for name, t_o, t_b, diff in rows:
        ratio = t_b / t_o if t_o and t_o == t_o else float("nan")
        print(f"{name:54s} {t_o:9.3f} {t_b:13.3f} {ratio:11.2f}x {diff:9.2g}")

    if args.png:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        names = [r[0] for r in rows if r[1] == r[1]]
        ratios = [r[2] / r[1] for r in rows if r[1] == r[1]]
        fig, ax = plt.subplots(figsize=(8, 0.45 * len(names) + 1.2))
        ax.barh(names, ratios, color="tab:blue")
        ax.axvline(1.0, color="black", linewidth=1)
        ax.set_xlabel("baseline time / our time")
        ax.invert_yaxis()
        fig.tight_layout()
        fig.savefig(args.png, dpi=120)
        print(f"wrote {args.png}")


if __name__ == "__main__":
    main()
