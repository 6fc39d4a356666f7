"""Corpus builder throughput and memory (issue 6). Run: ``python benchmarks/bench_corpus.py``.

1. Builder rates on one core (instances/s), each against a baseline measured in the same run:
   - molecule (SMILES -> canonical -> SELFIES -> stochastic composition -> text) vs. the bare RDKit
     canonicalization + SELFIES encoding it cannot avoid (target >= 2,000 instances/s/core);
   - FASTA and UniProt builders vs. reading + parsing the records alone;
   - text passthrough, interleaved and the MolStrucTok conformer builder for the core-hour estimate.
2. Peak memory (RSS of a fresh process) of a full ``build_card`` at 1x and 20x input size: it must stay
   flat because inputs are streamed.
3. Core-hours for the report's 304.4B-token corpus from the measured rates and tokens per instance.

Inputs: RDKit's bundled NCI SMILES (real molecules), the UniProt fixture entries replicated with new IDs,
random protein sequences with UniRef50-like lengths, synthetic prose. Finishes in < 2 minutes on 2 cores.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
FIX = REPO / "tests" / "corpus" / "fixtures"
AA = "ACDEFGHIKLMNPQRSTVWY"


def nci_smiles(n: int) -> list[str]:
    import rdkit

    path = Path(rdkit.__file__).parent / "Data" / "NCI" / "first_5K.smi"
    smiles = [l.split()[0] for l in path.read_text().splitlines() if l.strip()]
    return (smiles * (n // len(smiles) + 1))[:n]


def write_fasta(path: Path, n: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    with open(path, "w") as fh:
        for i in range(n):
            length = min(2000, max(30, int(rng.lognormvariate(5.6, 0.6))))  # median ~270 like UniRef50
            seq = "".join(rng.choice(AA) for _ in range(length))
            fh.write(f">UniRef50_B{i:07d} Synthetic protein n=1 Tax=Bench TaxID=0 RepID=B{i}\n")
            for k in range(0, length, 60):
                fh.write(seq[k:k + 60] + "\n")


def write_uniprot(path: Path, n: int) -> None:
    entries = [e + "//\n" for e in (FIX / "uniprot_sample.dat").read_text().split("//\n")[:2]]
    with open(path, "w") as fh:
        for i in range(n):
            entry = entries[i % 2].replace("INS_HUMAN", f"B{i:07d}_HUMAN", 1)
            fh.write(entry.replace("A0A1B2C3D4_ECOLX", f"B{i:07d}_ECOLX", 1))


def rate(fn, items, min_seconds: float = 1.5) -> tuple[float, int]:
    """items/s of fn over items (repeated until min_seconds), and instances produced per pass."""
    from biomatrix_plugin.corpus.records import RecordRejected

    for it in items[:3]:  # warm-up: lazy imports (torch for MolStrucTok) must not count as build time
        try:
            fn(it)
        except RecordRejected:
            pass
    produced = 0
    start = time.perf_counter()
    passes = 0
    while True:
        for it in items:
            try:
                out = fn(it)
            except RecordRejected:  # rejected records cost time too; they count as processed
                continue
            produced += len(out) if isinstance(out, list) else 1
        passes += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return passes * len(items) / elapsed, produced // passes


def _texts(fn, item) -> list[str]:
    from biomatrix_plugin.corpus.records import RecordRejected

    try:
        return [i["text"] for i in fn(item)]
    except RecordRejected:
        return []


def measure_rates() -> dict:
    import selfies as sf
    from rdkit import Chem, RDLogger

    from biomatrix_plugin.corpus.builders import BUILDERS
    from biomatrix_plugin.corpus.compose import record_rng
    from biomatrix_plugin.corpus.records import iter_records, parse_record
    from biomatrix_plugin.corpus.stats import ApproximateCounter, iter_pieces

    RDLogger.DisableLog("rdApp.*")
    counter = ApproximateCounter()
    tokens = lambda texts: sum(sum(counter(list(iter_pieces(t)))) for t in texts) / max(1, len(texts))
    results = {}

    def encodable(s: str) -> bool:
        m = Chem.MolFromSmiles(s)
        try:
            return m is not None and bool(sf.encoder(Chem.MolToSmiles(m)))
        except sf.EncoderError:
            return False

    smiles = [s for s in nci_smiles(2000) if encodable(s)]
    records = [{"smiles": s, "MolecularWeight": "180.16", "TPSA": "63.6", "XLogP": "1.2", "HBondDonorCount": "1",
                "HBondAcceptorCount": "3", "IUPACName": "2-acetyloxybenzoic acid",
                "description": "A molecule from the NCI set used for benchmarking the builder."} for s in smiles]
    mol = BUILDERS["molecule"].function
    params = {"views": {"smiles": 0.6, "selfies": 0.6, "mol3d": 0.0}}

    def build_mol(i_rec):
        i, rec = i_rec
        return mol(rec, record_rng(0, "bench", "smi", i), params)

    def baseline_mol(i_rec):
        m = Chem.MolFromSmiles(i_rec[1]["smiles"])
        return sf.encoder(Chem.MolToSmiles(m))

    items = list(enumerate(records))
    r_build, _ = rate(build_mol, items)
    r_base, _ = rate(baseline_mol, items)
    sample = [t for it in items[:300] for t in _texts(build_mol, it)]
    results["molecule"] = {"rate": r_build, "baseline": r_base, "baseline_name": "RDKit canonical + SELFIES only",
                           "tokens_per_instance": tokens(sample), "instances_per_record": 1}

    with tempfile.TemporaryDirectory() as tmp:
        fasta = Path(tmp) / "b.fasta"
        write_fasta(fasta, 1500)
        recs = list(iter_records([str(fasta)], "fasta"))
        fa = BUILDERS["fasta_sequence"].function
        parse_only = lambda r: [parse_record(r.raw, "fasta")]
        build_fa = lambda r: fa(parse_record(r.raw, "fasta"), record_rng(0, "b", "f", r.position), {})
        r_fa, per = rate(build_fa, recs)
        r_fa_base, _ = rate(parse_only, recs)
        results["fasta_sequence"] = {"rate": r_fa, "baseline": r_fa_base, "baseline_name": "FASTA parse only",
                                     "tokens_per_instance": tokens([build_fa(r)[0]["text"] for r in recs[:300]]),
                                     "instances_per_record": per / len(recs)}

        dat = Path(tmp) / "b.dat"
        write_uniprot(dat, 1000)
        recs = list(iter_records([str(dat)], "uniprot_dat"))
        up = BUILDERS["uniprot"].function
        build_up = lambda r: up(parse_record(r.raw, "uniprot_dat"), record_rng(0, "b", "u", r.position), {})
        r_up, per = rate(build_up, recs)
        r_up_base, _ = rate(lambda r: [parse_record(r.raw, "uniprot_dat")], recs)
        texts = [i["text"] for r in recs[:200] for i in build_up(r)]
        results["uniprot"] = {"rate": r_up, "baseline": r_up_base, "baseline_name": "UniProt entry parse only",
                              "tokens_per_instance": tokens(texts), "instances_per_record": per / len(recs)}

    rng = random.Random(0)
    rows = []
    for i in range(500):
        n = min(2000, max(30, int(rng.lognormvariate(5.6, 0.6))))
        rows.append({"pid": f"AF-B{i}-F1_chain_id_A", "indices": " ".join(str(rng.randrange(4096)) for _ in range(n)),
                     "protein_sequence": "".join(rng.choice(AA) for _ in range(n))})
    ps = BUILDERS["protein_structure"].function
    build_ps = lambda r: ps(r, random.Random(0), {})
    r_ps, per = rate(build_ps, rows)
    results["protein_structure"] = {"rate": r_ps, "baseline": None, "baseline_name": "",
                                    "tokens_per_instance": tokens([i["text"] for r in rows[:100] for i in build_ps(r)]),
                                    "instances_per_record": per / len(rows)}

    words = "protein binds ligand cell membrane enzyme reaction rate the of and in to with a is".split()
    docs = [{"text": " ".join(rng.choice(words) for _ in range(400))} for _ in range(500)]
    tx = BUILDERS["text"].function
    r_tx, _ = rate(lambda d: tx(json.loads(json.dumps(d)), None, {}), docs)
    results["text"] = {"rate": r_tx, "baseline": None, "baseline_name": "",
                       "tokens_per_instance": tokens([d["text"] for d in docs[:100]]), "instances_per_record": 1}

    pre = [json.loads(l) for l in (FIX / "mol3d_encoded.jsonl").read_text().splitlines()][:3] * 100
    cf = BUILDERS["conformer"].function
    build_pre = lambda r: cf(r, random.Random(0), {})
    r_pre, _ = rate(build_pre, pre)
    results["conformer"] = {"rate": r_pre, "baseline": None, "baseline_name": "precomputed struct_sfi (mol3d encode)",
                            "tokens_per_instance": tokens([build_pre(r)[0]["text"] for r in pre[:3]]),
                            "instances_per_record": 1}
    try:
        from biomatrix_plugin.corpus.molecules import mol3d_available

        if mol3d_available():
            recs = [parse_record(r.raw, "sdf") for r in iter_records([str(FIX / "pubchem_compounds.sdf")], "sdf")
                    if r.position < 10]  # the last three fixture records are deliberately broken
            cf = BUILDERS["conformer"].function
            build_cf = lambda r: cf(r, random.Random(0), {})
            r_cf, _ = rate(build_cf, recs, min_seconds=3.0)
            results["conformer_live"] = {"rate": r_cf, "baseline": None, "baseline_name": "MolStrucTok per molecule",
                                         "tokens_per_instance": tokens([build_cf(r)[0]["text"] for r in recs]),
                                         "instances_per_record": 1}
    except Exception as exc:  # the estimate below then says the 3D rate is missing
        print(f"conformer builder not measured: {exc}")
    try:
        results.update(measure_complex_rates(tokens))
    except Exception as exc:  # MolStrucTok checkpoint missing, for instance
        print(f"3D complex builders not measured: {exc}")
    return results


def measure_complex_rates(tokens) -> dict:
    """CrossDocked2020 poses (fixture receptors, cached as in a build) against MolStrucTok on the same
    poses alone, and PPIRef pair files (parsed every time) against chain extraction alone."""
    import torch

    from biomatrix_plugin.corpus import complexes
    from biomatrix_plugin.corpus.builders import BUILDERS

    torch.set_num_threads(1)  # as in a build: one shard per core (corpus/build.py: _single_threaded_torch)
    from biomatrix_plugin.mol3d import mol_to_wrapped_3d
    from biomatrix_plugin.protein3d import extract_chains

    out = {}
    lines = (FIX / "crossdocked" / "types" / "fx_crossdocked.types").read_text().splitlines()
    poses = [complexes.parse_types_line(lines[i]) for i in (0, 1, 9)] * 20
    params = {"structure_root": str(FIX / "crossdocked"), "structure_codes": str(FIX / "crossdocked_vq_indices.csv")}
    plc = BUILDERS["protein_ligand_complex"].function
    build_plc = lambda r: plc(r, random.Random(0), params)
    mols = [complexes.ligand_pose(*complexes.ligand_file(r["ligand"], params["structure_root"], None)) for r in poses]
    r_plc, _ = rate(build_plc, poses)
    r_mst, _ = rate(lambda m: [mol_to_wrapped_3d(m)], mols)
    out["protein_ligand_complex"] = {"rate": r_plc, "baseline": r_mst, "baseline_name": "MolStrucTok on the pose only",
                                     "tokens_per_instance": tokens([build_plc(r)[0]["text"] for r in poses[:3]]),
                                     "instances_per_record": 1}
    files = [str((FIX / "ppiref" / n).resolve()) for n in ("1abc_A_B.pdb", "4cif_C_D.cif")] * 20
    pc = BUILDERS["protein_complex"].function

    def build_pc(path):
        complexes._chains.cache_clear()  # one file per record: nothing to reuse in a real build
        return pc({"path": path}, random.Random(0), {"structure_codes": str(FIX / "ppiref_vq_indices.csv")})

    r_pc, _ = rate(build_pc, files)
    r_ex, _ = rate(lambda f: [extract_chains(f)], files)
    out["protein_complex"] = {"rate": r_pc, "baseline": r_ex, "baseline_name": "protein3d.extract_chains only",
                              "tokens_per_instance": tokens([build_pc(f)[0]["text"] for f in files[:2]]),
                              "instances_per_record": 1}
    return out


# ---------------------------------------------------------------- peak memory of a streaming build

_CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
from biomatrix_plugin.corpus.build import build_card
from biomatrix_plugin.corpus.registry import load_card
t = time.perf_counter()
m = build_card(load_card(sys.argv[2]), sys.argv[3], n_shards=1, progress=False, checkpoint_every=5000)
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the (large) parent across fork+exec
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
print(json.dumps({"rss_mb": int(hwm) / 1024,
                  "records": m["totals"]["records"], "seconds": time.perf_counter() - t}))
"""


def peak_memory(kind: str, n: int, tmp: Path) -> dict:
    data = tmp / f"{kind}_{n}"
    data.mkdir()
    if kind == "fasta":
        write_fasta(data / "in.fasta", n)
        card = {"name": "bench_fasta", "category": "protein", "source": {"name": "bench"}, "license": "n/a",
                "input": {"format": "fasta", "path": "in.fasta"}, "builder": {"name": "fasta_sequence"}}
    else:
        write_uniprot(data / "in.dat", n)
        card = {"name": "bench_uniprot", "category": "protein", "source": {"name": "bench"}, "license": "n/a",
                "input": {"format": "uniprot_dat", "path": "in.dat"}, "builder": {"name": "uniprot"}}
    import yaml

    (data / "card.yaml").write_text(yaml.safe_dump(card))
    out = subprocess.run([sys.executable, "-c", _CHILD, str(REPO), str(data / "card.yaml"), str(data / "out")],
                         capture_output=True, text=True, check=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res["input_mb"] = sum(p.stat().st_size for p in data.glob("in.*")) / 2**20
    return res


# ---------------------------------------------------------------- report

# Token budget of Figure 2 mapped onto the builder that makes it (category totals from the report)
BUDGET_B = {
    "text (FineWeb-Edu, FineFineWeb, PubMed)": (105.3, "text"),
    "molecule 1D + other (PubChem, MolTextNet)": (56.1, "molecule"),
    "molecule 3D (PubChem3D, PCQM4Mv2, PubChemQC)*": (17.6, "conformer"),
    "protein 1D + annotations (UniRef50, UniProt)": (38.9, "uniprot"),
    "protein 3D (PDB, AFDB; codes precomputed)": (38.5, "protein_structure"),
    "cross-entity (interleaved, interactions)": (48.0, "molecule"),
}


def main() -> None:
    t0 = time.time()
    rates = measure_rates()
    print("\n== builder throughput, 1 core ==")
    print(f"{'builder':22s} {'inst/s':>9s} {'baseline':>9s} {'ratio':>6s}  {'tok/inst':>8s}  baseline")
    for name, r in rates.items():
        base = f"{r['baseline']:9.0f}" if r["baseline"] else f"{'-':>9s}"
        ratio = f"{r['rate'] / r['baseline']:6.2f}" if r["baseline"] else f"{'-':>6s}"
        base = base if r["baseline"] else f"{'-':>9s}"
        print(f"{name:22s} {r['rate']:9.0f} {base} {ratio}  {r['tokens_per_instance']:8.0f}  {r['baseline_name']}")
    mol = rates["molecule"]["rate"]
    print(f"molecule builder target >= 2,000 inst/s/core: {'MET' if mol >= 2000 else 'NOT MET'} ({mol:,.0f})")

    print("\n== peak memory of a streaming build (fresh process, 1 shard, end to end) ==")
    print(f"{'input':8s} {'size':>5s} {'records':>8s} {'input MB':>9s} {'peak RSS MB':>12s} {'rec/s':>8s}")
    with tempfile.TemporaryDirectory() as tmp:
        mem = {}
        for kind, n1 in (("fasta", 2500), ("uniprot", 1000)):
            for mult in (1, 20):
                r = peak_memory(kind, n1 * mult, Path(tmp))
                mem[(kind, mult)] = r
                print(f"{kind:8s} {mult:>4d}x {r['records']:8d} {r['input_mb']:9.1f} {r['rss_mb']:12.1f} "
                      f"{r['records'] / r['seconds']:8.0f}")
            ratio = mem[(kind, 20)]["rss_mb"] / mem[(kind, 1)]["rss_mb"]
            print(f"{kind:8s} peak RSS 20x / 1x = {ratio:.2f} (flat = streaming)")
    # reading, parsing, JSON encoding and fsync'd writes on top of the builder itself
    e2e = {"fasta": "fasta_sequence", "uniprot": "uniprot"}
    overhead = max(1.0, *(rates[b]["rate"] / (mem[(k, 20)]["records"] / mem[(k, 20)]["seconds"])
                          for k, b in e2e.items()))
    print(f"end-to-end overhead factor (builder-only rate / build_card rate, worst of fasta/uniprot): {overhead:.2f}")

    print("\n== core-hours for the report's 304.4B-token corpus (builder rates / end-to-end overhead) ==")
    total = 0.0
    for label, (billions, builder) in BUDGET_B.items():
        r = rates.get(builder)
        if r is None:
            print(f"{label:48s} {billions:6.1f}B  rate not measured")
            continue
        tokens_per_s = r["rate"] / overhead * r["instances_per_record"] * r["tokens_per_instance"]
        hours = billions * 1e9 / tokens_per_s / 3600
        total += hours
        print(f"{label:48s} {billions:6.1f}B  {tokens_per_s:10,.0f} tok/s/core  {hours:10,.0f} core-h")
    print(f"{'total':48s} {sum(b for b, _ in BUDGET_B.values()):6.1f}B  {total:10,.0f} core-hours "
          f"= {total / 1024:,.1f} h on 1,024 cores")
    print("* from precomputed MolStrucTok tokens; encoding them is a separate, batched step "
          "(`biomatrix mol3d encode`, see benchmarks/bench_mol3d.py); the structure codes of proteins likewise "
          "come from GCP-VQVAE on GPUs (`biomatrix protein encode`).")
    print(f"\n(bench ran {time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
