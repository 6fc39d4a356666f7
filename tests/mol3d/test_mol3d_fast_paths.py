"""The speed paths of MolStrucTok give what the paths they replace give: the chunked SDF reader = io.sdf_blocks,
foci from the parser / the decoded SMILES = foci from RDKit's adjacency matrix, the addmm codebook search =
the three-step distance expression (bitwise, so ties break the same)."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch
from rdkit import Chem, RDConfig

from biomatrix_plugin.io import quiet_rdkit, sdf_blocks
from biomatrix_plugin.mol3d.batch import sdf_records
from biomatrix_plugin.mol3d.fast_selfies import kekule_smiles_to_tokens, smiles_focus
from biomatrix_plugin.mol3d.geometry import focus_from_adjacency
from biomatrix_plugin.mol3d.model import EMACodebook

NCI = Path(RDConfig.RDDataDir) / "NCI" / "first_5K.smi"
SDF = Path(RDConfig.RDDataDir) / "NCI" / "first_200.props.sdf"


def _cases() -> list[str]:
    base = SDF.read_text()
    cases = [base, base.replace("\n", "\r\n"), base.replace("\n", "\r"), base[:-1], base + "\n\n", "$$$$\n" + base,
             base + "tail\nM  END", "", "\n\n", "$$$$", "a\r\n$$$$\r\nb", "x\n$$$$  \ny\n$$$$", base[: len(base) // 2]]
    rng = random.Random(1)
    pieces = ["A\n", "$$$$\n", "$$$$\r\n", "\r", "\n", "$$$$", "B\r\n", "$$$", "$"]
    cases += ["".join(rng.choice(pieces) for _ in range(60)) for _ in range(30)]
    return cases


@pytest.mark.parametrize("chunk", [5, 64, 1 << 20])
def test_sdf_records_equal_io_sdf_blocks(tmp_path, chunk):
    for i, text in enumerate(_cases()):
        path = tmp_path / f"{i}.sdf"
        path.write_bytes(text.encode())
        assert list(sdf_records(path, chunk)) == list(sdf_blocks(path)), (i, text[:80])


def test_sdf_records_non_utf8_is_one_error_naming_the_file(tmp_path):
    from biomatrix_plugin.errors import InputFileError

    path = tmp_path / "bad.sdf"
    path.write_bytes(b"abc\n\xff\xfe\n$$$$\n")
    with pytest.raises(InputFileError, match="bad.sdf: not UTF-8"):
        list(sdf_records(path))


def _nci_mols(n: int):
    out = []
    with quiet_rdkit():
        for line in NCI.read_text().splitlines()[:n]:
            mol = Chem.MolFromSmiles(line.split()[0]) if line.strip() else None
            if mol is not None and len(Chem.GetMolFrags(mol)) == 1:
                out.append(Chem.AddHs(mol))
    return out


def test_parser_foci_equal_adjacency_foci():
    checked = 0
    for mol in _nci_mols(1500):
        smiles = Chem.MolToSmiles(mol, canonical=True, kekuleSmiles=True, isomericSmiles=False)
        parsed = kekule_smiles_to_tokens(smiles)
        if parsed is None:
            continue
        order = [int(i) for i in mol.GetProp("_smilesAtomOutputOrder").strip("[]").split(",") if i]
        expected = focus_from_adjacency(Chem.GetAdjacencyMatrix(mol)[np.ix_(order, order)])
        focus = parsed[2]
        focus[1:3] = expected[1:3]  # fixed foci of atoms 1 and 2 (set by the encoder)
        assert focus == expected.tolist(), smiles
        checked += 1
    assert checked > 1000


def test_decoded_smiles_foci_equal_adjacency_foci():
    import selfies as sf

    checked = 0
    with quiet_rdkit():
        for mol in _nci_mols(1500):
            smiles = Chem.MolToSmiles(mol, canonical=True, kekuleSmiles=True, isomericSmiles=False)
            try:
                decoded = sf.decoder(sf.encoder(smiles))
            except sf.EncoderError:
                continue
            rd = Chem.MolFromSmiles(decoded, sanitize=False)
            focus = smiles_focus(decoded)
            assert focus is not None and rd is not None and len(focus) == rd.GetNumAtoms(), decoded
            expected = focus_from_adjacency(Chem.GetAdjacencyMatrix(rd))
            focus[1:3] = expected[1:3]
            assert focus == expected.tolist(), decoded
            checked += 1
    assert checked > 1000
    assert smiles_focus("CC.C") is None and smiles_focus("C(C") is None and smiles_focus("C1CC") is None


def test_nearest_is_the_three_step_distance_argmin():
    torch.manual_seed(0)
    book = EMACodebook(512, 64, 0.99, 1e-5)
    w = book.embedding.weight.detach()
    z = torch.randn(3000, 64) * 0.01
    z[100:110] = w[7]  # exact ties with an entry
    with torch.no_grad():
        expected = ((z * z).sum(1, keepdim=True) + (w * w).sum(1) - 2 * z @ w.t()).argmin(1)
        for chunk in (1, 100, 512, 5000):
            assert torch.equal(book.nearest(z, chunk=chunk), expected)
