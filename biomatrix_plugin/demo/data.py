"""The demo's small corpus: RDKit's bundled NCI molecules and the sample proteins in ``examples/``.

Kept deliberately simple (a fixed text pattern with randomized view order); the full corpus builders with
stochastic composition live in :mod:`biomatrix_plugin.corpus`.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path

from biomatrix_plugin.io import quiet_rdkit
from biomatrix_plugin.modalities.serialization import (
    SerializationError,
    smiles_to_selfies,
    validate_smiles,
    wrap_protein,
    wrap_selfies,
    wrap_smiles,
)
from biomatrix_plugin.paths import data_registry_dir, package_data

SAMPLE_FASTA = package_data("demo", "samples", "proteins.fasta")


def nci_smiles_path() -> Path:
    import rdkit

    return Path(rdkit.__file__).parent / "Data" / "NCI" / "first_5K.smi"


# RDKit's bundled kinase ligand sets: unlike the NCI molecules they carry stereocentres and E/Z bonds
BUNDLED_LIGAND_SDFS = ("Contrib/PBF/testData/egfr.sdf", "Contrib/Fastcluster/testdata/cdk2.sdf")


def write_bundled_ligand_smiles(out_path: str | Path) -> int:
    """Write the canonical isomeric SMILES of RDKit's bundled EGFR and CDK2 ligands (one per line), so
    the demo vocabulary also holds the stereo SELFIES symbols ([C@@H1], [/C], ...). Returns the count."""
    import rdkit
    from rdkit import Chem

    root = Path(rdkit.__file__).parent
    smiles = []
    for rel in BUNDLED_LIGAND_SDFS:
        if not (root / rel).exists():
            raise FileNotFoundError(f"RDKit's wheel does not ship {rel}; `make vocab` needs it")
        smiles.extend(Chem.MolToSmiles(m) for m in Chem.SDMolSupplier(str(root / rel)) if m is not None)
    Path(out_path).write_text("".join(s + "\n" for s in smiles))
    return len(smiles)


def read_fasta(path: Path) -> list[tuple[str, str]]:
    records, name, seq = [], None, []
    for line in Path(path).read_text().splitlines():
        if line.startswith(">"):
            if name is not None:
                records.append((name, "".join(seq)))
            name, seq = line[1:].strip(), []
        elif line.strip():
            seq.append(line.strip())
    if name is not None:
        records.append((name, "".join(seq)))
    return records


@dataclass
class BuildCounts:
    written: dict[str, int] = field(default_factory=dict)
    rejected: list[tuple[str, str]] = field(default_factory=list)


def _molecule_text(smiles: str, rng: random.Random) -> str:
    from rdkit import Chem
    from rdkit.Chem import Descriptors, rdMolDescriptors

    mol = Chem.MolFromSmiles(smiles)
    views = [f"SMILES {wrap_smiles(smiles)}", f"SELFIES {wrap_selfies(smiles=smiles)}"]
    rng.shuffle(views)
    facts = [
        f"molecular formula {rdMolDescriptors.CalcMolFormula(mol)}",
        f"molecular weight {Descriptors.MolWt(mol):.2f}",
        f"{rdMolDescriptors.CalcNumHBD(mol)} hydrogen bond donors",
        f"{rdMolDescriptors.CalcNumRings(mol)} rings",
    ]
    rng.shuffle(facts)
    return f"The molecule with {views[0]} is written in {views[1]}. It has {', '.join(facts)}."


def build_demo_data(out_dir: str | Path, n_molecules: int = 400, seed: int = 0) -> BuildCounts:
    """Write demo/cpt_demo.jsonl, demo/sft_smiles2selfies.jsonl, demo/sft_protein_length.jsonl."""
    with quiet_rdkit():  # NCI rows RDKit warns about are rejects with a reason, not log noise
        return _build_demo_data(Path(out_dir), n_molecules, seed)


def _build_demo_data(out: Path, n_molecules: int, seed: int) -> BuildCounts:
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    counts = BuildCounts()
    cpt, s2s, plen = [], [], []
    with open(nci_smiles_path()) as fh:
        for lineno, line in enumerate(fh, start=1):
            if len(s2s) >= n_molecules:
                break
            try:
                # canonical form, as the corpus builders write it and as the vocabulary was counted
                smiles = validate_smiles(line.split()[0], canonicalize=True)
                smiles_to_selfies(smiles)
                cpt.append({"text": _molecule_text(smiles, rng)})
            except SerializationError as exc:
                counts.rejected.append((f"first_5K.smi:{lineno}", str(exc).replace("\n", " ")))
                continue
            s2s.append({
                "instruction": "Translate the molecule {smiles|smiles} from SMILES into SELFIES.",
                "input": "",
                "output": "{smiles|selfies_from_smiles}",
                "smiles": smiles,
                "id": f"nci-{lineno}",
            })
    for name, seq in read_fasta(SAMPLE_FASTA):
        cpt.append({"text": f"The protein {name} has the sequence {wrap_protein(seq)}."})
        for k in range(25):
            start = rng.randrange(0, max(1, len(seq) - 10))
            sub = seq[start : start + rng.randint(5, 40)]
            plen.append({
                "instruction": f"How many residues does the protein {wrap_protein(sub)} have?",
                "input": "",
                "output": str(len(sub)),
            })
    rng.shuffle(cpt)
    for name, rows in (("cpt_demo", cpt), ("sft_smiles2selfies", s2s), ("sft_protein_length", plen)):
        with open(out / f"{name}.jsonl", "w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row) + "\n")
        counts.written[name] = len(rows)
    return counts


def write_dataset_dir(out_dir: str | Path, data_subdir: str = "demo", **kwargs) -> BuildCounts:
    """A complete LLaMA-Factory dataset_dir: the demo entries of data_registry + freshly built files."""
    out = Path(out_dir)
    counts = build_demo_data(out / data_subdir, **kwargs)
    entries = json.loads((data_registry_dir() / "manual_entries.json").read_text())
    (out / "dataset_info.json").write_text(json.dumps(entries, indent=2) + "\n")
    return counts
