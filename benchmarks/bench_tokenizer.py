"""Extended-tokenizer throughput vs the base Qwen3 tokenizer on the same wrapped corpus, and
serialization throughput (wrapped records/s). Baselines are measured in the same run.

    python benchmarks/bench_tokenizer.py [--molecules 2000]
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time


def _rate(fn, items, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(items)
        best = min(best, time.perf_counter() - t0)
    return len(items) / best


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--molecules", type=int, default=2000)
    args = p.parse_args()

    from transformers import AutoTokenizer

    from biomatrix_plugin.demo.data import SAMPLE_FASTA, nci_smiles_path, read_fasta
    from biomatrix_plugin.modalities.serialization import (
        SerializationError,
        unwrap,
        wrap,
        wrap_prot3d,
        wrap_protein,
        wrap_selfies,
        wrap_smiles,
    )
    from biomatrix_plugin.model.extend import add_vocabulary
    from biomatrix_plugin.model.tiny_base import build_qwen3_tokenizer
    from biomatrix_plugin.vocab.tokens import CONTROL_TOKENS
    from biomatrix_plugin.vocab.vocabulary import load_vocabulary

    smiles = [l.split()[0] for l in nci_smiles_path().read_text().splitlines()[: args.molecules]]
    proteins = [s for _, s in read_fasta(SAMPLE_FASTA)]

    def serialize(batch):
        out = []
        for smi in batch:
            try:
                out.append(f"The molecule {wrap_smiles(smi)} is {wrap_selfies(smiles=smi)}.")
            except SerializationError:
                pass
        return out

    def serialize_smiles_only(batch):
        out = []
        for smi in batch:
            try:
                out.append(wrap_smiles(smi))
            except SerializationError:
                pass
        return out

    corpus = serialize(smiles) + [f"Protein {wrap_protein(s)}." for s in proteins] * 20
    base = build_qwen3_tokenizer()
    with tempfile.TemporaryDirectory() as tmp:
        base.save_pretrained(tmp)
        ext = AutoTokenizer.from_pretrained(tmp)
    add_vocabulary(ext, load_vocabulary())

    rows = []
    tok_base = _rate(lambda xs: base(xs, add_special_tokens=False), corpus)
    tok_ext = _rate(lambda xs: ext(xs, add_special_tokens=False), corpus)
    n_base = sum(len(x) for x in base(corpus, add_special_tokens=False)["input_ids"])
    n_ext = sum(len(x) for x in ext(corpus, add_special_tokens=False)["input_ids"])
    rows.append(("tokenize wrapped corpus (records/s, batched)", tok_base, tok_ext))
    single_base = _rate(lambda xs: [base.encode(x, add_special_tokens=False) for x in xs], corpus[:500], 2)
    single_ext = _rate(lambda xs: [ext.encode(x, add_special_tokens=False) for x in xs], corpus[:500], 2)
    rows.append(("tokenize one record at a time (records/s)", single_base, single_ext))
    ser_smiles = _rate(serialize_smiles_only, smiles, 1)
    ser_full = _rate(serialize, smiles, 1)
    rows.append(("serialize molecules (records/s): SMILES only vs SMILES+SELFIES", ser_smiles, ser_full))
    ser_prot = _rate(lambda xs: [wrap_protein(s) for s in xs], proteins * 200)
    upper_join = _rate(lambda xs: ["".join(s.upper().split()) for s in xs], proteins * 200)
    rows.append(("serialize proteins (records/s): baseline = str.upper+join", upper_join, ser_prot))
    # structure codes typed as text (wrap --modality prot3d, {col|prot3d}): baseline = wrap_prot3d on ints
    code_lists = [[(i * 7 + j) % 4096 for j in range(len(s))] for i, s in enumerate(proteins * 20)]
    code_texts = [" ".join(map(str, c)) for c in code_lists]
    rows.append(("wrap prot3d (records/s): list of ints vs the same codes as text",
                 _rate(lambda xs: [wrap_prot3d(c) for c in xs], code_lists),
                 _rate(lambda xs: [wrap("prot3d", t) for t in xs], code_texts)))
    # finding segments again (corpus stats, eval): baseline = the boundary regex alone
    boundary = re.compile("|".join(re.escape(t) for pair in CONTROL_TOKENS.values() for t in pair))
    rows.append(("unwrap wrapped corpus (records/s): baseline = boundary regex findall",
                 _rate(lambda xs: [boundary.findall(x) for x in xs], corpus),
                 _rate(lambda xs: [unwrap(x) for x in xs], corpus)))

    print(f"corpus: {len(corpus)} wrapped records; tokens base {n_base:,} vs extended {n_ext:,} "
          f"({n_ext / n_base:.2f}x)")
    print(f"| {'measure':<66} | {'baseline':>12} | {'ours':>12} | ratio |")
    print(f"|{'-' * 68}|{'-' * 14}|{'-' * 14}|-------|")
    for name, b, o in rows:
        print(f"| {name:<66} | {b:>12,.0f} | {o:>12,.0f} | {o / b:5.2f} |")
    ratio = tok_ext / tok_base
    verdict = "OK" if ratio >= 0.8 else "BELOW TARGET"
    print(f"extended/base tokenizer throughput: {ratio:.2f}x (target >= 0.8x): {verdict}")


if __name__ == "__main__":
    main()
