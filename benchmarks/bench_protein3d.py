"""Protein 3D throughput: structures parsed + extracted per second, three-view instances per second.

Generates mmCIF files (ideal-geometry chains with random torsions, two chains per file plus waters) in a
temporary folder, then times, in one process:

- baseline: biotite reading the first model (``CIFFile.read`` + ``get_structure``), no extraction;
- ours: ``extract_chains`` (read, altlocs, residue classification, backbone, drops and breaks), on the
  same structures as mmCIF and as PDB (PDB also checks for ATOM lines cut before their coordinates);
- baseline: wrapping sequence and codes with ``wrap_protein`` / ``wrap_prot3d`` once each;
- ours: ``three_view_instances`` (three rows per protein, plus the composite with annotations);
- TM-score and Kabsch RMSD for 150-residue pairs.

Run: ``python benchmarks/bench_protein3d.py [--files 150]`` (under a minute on 2 cores).
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

import numpy as np


def make_files(folder: Path, n_files: int, rng: np.random.Generator) -> int:
    import biotite.structure as struc
    import biotite.structure.io.pdb as pdb
    import biotite.structure.io.pdbx as pdbx

    from biomatrix_plugin.protein3d.geometry import build_backbone
    from biomatrix_plugin.protein3d.structure_io import backbone_atom_array

    letters = "ACDEFGHIKLMNPQRSTVWY"
    residues = 0
    for i in range(n_files):
        arrays = []
        for chain in "AB":
            length = int(rng.integers(100, 400))
            residues += length
            bb = build_backbone(length, rng.normal(-60, 25, length), rng.normal(-40, 40, length))
            seq = "".join(rng.choice(list(letters), length))
            arrays.append(backbone_atom_array(bb + (0 if chain == "A" else 60.0), seq, chain))
        water = struc.AtomArray(20)
        water.coord = rng.normal(0, 20, (20, 3)).astype(np.float32)
        water.chain_id[:] = "A"
        water.res_id = np.arange(1001, 1021)
        water.res_name[:] = "HOH"
        water.atom_name[:] = "O"
        water.element[:] = "O"
        water.hetero[:] = True
        water.add_annotation("occupancy", dtype=float)
        water.occupancy[:] = 1.0
        water.add_annotation("b_factor", dtype=float)
        arrays.append(water)
        atoms = struc.concatenate(arrays)
        cif = pdbx.CIFFile()
        pdbx.set_structure(cif, atoms, data_block=f"b{i:04d}")
        cif.write(str(folder / f"b{i:04d}.cif"))
        pdb_file = pdb.PDBFile()
        pdb_file.set_structure(atoms)
        pdb_file.write(str(folder / f"b{i:04d}.pdb"))
    return residues


def timed(fn, items) -> tuple[float, object]:
    start = time.perf_counter()
    out = [fn(x) for x in items]
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=150)
    parser.add_argument("--proteins", type=int, default=5000)
    args = parser.parse_args()

    import biotite.structure.io.pdb as pdb
    import biotite.structure.io.pdbx as pdbx

    from biomatrix_plugin.modalities.serialization import wrap_prot3d, wrap_protein
    from biomatrix_plugin.protein3d.backbone import extract_chains
    from biomatrix_plugin.protein3d.comparison import kabsch_rmsd, tm_score
    from biomatrix_plugin.protein3d.geometry import build_backbone
    from biomatrix_plugin.protein3d.instances import three_view_instances

    rng = np.random.default_rng(0)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        residues = make_files(folder, args.files, rng)
        print(f"generated {args.files} mmCIF files ({2 * args.files} chains, {residues} residues) "
              f"in {time.perf_counter() - t0:.1f}s")
        files = sorted(folder.glob("*.cif"))
        extract_chains(files[0])  # warm the CCD caches, as any long run would be

        def bare_parse(path):
            return pdbx.get_structure(pdbx.CIFFile.read(str(path)), model=1)

        t_base, _ = timed(bare_parse, files)
        t_ours, results = timed(extract_chains, files)
        chains = sum(len(r.chains) for r in results)
        assert chains == 2 * len(files), "every generated chain must be extracted"
        rows.append(("mmCIF structures parsed+extracted /s", len(files) / t_ours, len(files) / t_base,
                     "biotite read + get_structure only"))
        rows.append(("residues extracted /s", residues / t_ours, residues / t_base, "same"))

        pdb_files = sorted(folder.glob("*.pdb"))

        def bare_pdb(path):
            return pdb.PDBFile.read(str(path)).get_structure(model=1)

        t_base, _ = timed(bare_pdb, pdb_files)
        t_ours, results = timed(extract_chains, pdb_files)
        assert sum(len(r.chains) for r in results) == 2 * len(pdb_files)
        rows.append(("PDB structures parsed+extracted /s", len(pdb_files) / t_ours, len(pdb_files) / t_base,
                     "biotite PDBFile.read + get_structure only"))

    letters = "ACDEFGHIKLMNPQRSTVWY"
    proteins = []
    for _ in range(args.proteins):
        length = int(rng.integers(50, 500))
        proteins.append(("".join(rng.choice(list(letters), length)), rng.integers(0, 4096, length).tolist()))
    annotations = {"Protein name": "Example protein", "Organism": "Homo sapiens",
                   "Keywords": ["Hydrolase", "Zinc", "Metal-binding"], "Function": "Catalyses a reaction."}
    shared = random.Random(0)
    t_wrap, _ = timed(lambda p: (wrap_protein(p[0]), wrap_prot3d(p[1], p[0])), proteins)
    t_three, out = timed(lambda p: three_view_instances(p[0], p[1], shared), proteins)
    n_rows = sum(len(o) for o in out)
    wrap_rate = len(proteins) / t_wrap
    rows.append((f"three-view proteins /s ({n_rows / t_three:.0f} instances/s)", len(proteins) / t_three,
                 wrap_rate, "wrap_protein + wrap_prot3d once per protein"))
    t_comp, out = timed(lambda p: three_view_instances(p[0], p[1], shared, annotations), proteins[:1000])
    rows.append((f"  with annotations ({sum(len(o) for o in out) / t_comp:.0f} instances/s)", 1000 / t_comp,
                 wrap_rate, "same baseline"))

    pairs = []
    for _ in range(40):
        phi, psi = rng.normal(-60, 40, 150), rng.normal(-40, 60, 150)
        pairs.append((build_backbone(150, phi + rng.normal(0, 5, 150), psi + rng.normal(0, 5, 150)),
                      build_backbone(150, phi, psi)))
    t_tm, ours_tm = timed(lambda p: tm_score(p[0], p[1]), pairs)
    try:
        from tmtools import tm_align

        seq = "A" * 150
        t_ref, ref_tm = timed(lambda p: tm_align(np.ascontiguousarray(p[0][:, 1]), np.ascontiguousarray(p[1][:, 1]),
                                                 seq, seq, [seq, seq]).tm_norm_chain2, pairs)
        gap = max(abs(a - b) for a, b in zip(ours_tm, ref_tm))
        rows.append((f"TM-score pairs /s (L=150, max |diff| {gap:.4f})", len(pairs) / t_tm, len(pairs) / t_ref,
                     "tmtools TM-align (C++) with the fixed alignment"))
    except ImportError:
        t_rmsd, _ = timed(lambda p: kabsch_rmsd(p[0], p[1]), pairs)
        rows.append(("TM-score pairs /s (L=150)", len(pairs) / t_tm, len(pairs) / t_rmsd, "one Kabsch RMSD per pair"))

    print()
    print(f"{'measure (per second)':<46}{'ours':>12}{'baseline':>12}{'ratio':>8}  baseline")
    for name, ours, base, what in rows:
        print(f"{name:<46}{ours:>12.1f}{base:>12.1f}{ours / base:>8.2f}  {what}")


if __name__ == "__main__":
    main()
