"""Joint-token grammar: atom attribution, parsing, counting."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import selfies as sf
from rdkit import Chem, RDConfig

from biomatrix_plugin.mol3d import Mol3DError, count_joint_tokens, parse_struct_sfi
from biomatrix_plugin.mol3d.joint_tokens import atom_symbol_mask, atom_symbol_mask_by_decoder, split_symbols


def _nci_smiles(limit: int = 400) -> list[str]:
    path = Path(RDConfig.RDDataDir) / "NCI" / "first_200.props.sdf"
    if not path.exists():
        pytest.skip(f"RDKit's bundled NCI file is missing: {path}")
    out = []
    for mol in Chem.SDMolSupplier(str(path)):
        if mol is not None and len(Chem.GetMolFrags(mol)) == 1:
            out.append(Chem.MolToSmiles(Chem.AddHs(mol), kekuleSmiles=True, isomericSmiles=False))
    return out[:limit]


def test_grammar_attribution_agrees_with_selfies_decoder():
    checked = 0
    for smi in _nci_smiles():
        try:
            selfies = sf.encoder(smi)
        except sf.EncoderError:
            continue
        symbols = split_symbols(selfies)
        assert atom_symbol_mask(symbols) == atom_symbol_mask_by_decoder(selfies, len(symbols)), smi
        assert sum(atom_symbol_mask(symbols)) == Chem.MolFromSmiles(smi, sanitize=False).GetNumAtoms()
        checked += 1
    assert checked > 100


def test_branch_and_ring_index_symbols_make_no_atom():
    symbols = split_symbols("[C][Branch1][C][O][C][=C][Ring1][=Branch1]")
    assert atom_symbol_mask(symbols) == [True, False, False, True, True, True, False, False]


def test_parse_struct_sfi_round_trip_and_wrapped():
    text = "[H 3][C 0][Branch1 -1][C -1][H 5][O 7]"
    symbols, codes, mask = parse_struct_sfi(text)
    assert symbols == ["[H]", "[C]", "[Branch1]", "[C]", "[H]", "[O]"]
    assert codes == [3, 0, 5, 7]
    assert parse_struct_sfi(f"<|mol_3d_start|>{text}<|mol_3d_end|>")[1] == codes


@pytest.mark.parametrize("bad, reason", [
    ("[C 1][C 2", "joint tokens"),
    ("[C 1] [C 2]", "joint tokens"),
    ("[C 512][C 3]", "outside"),
    ("[C -1][C 3]", "no code"),
    ("[C 1][Branch1 4][C -1][O 2]", "carries a code"),
    ("", "empty"),
])
def test_malformed_strings_are_rejected_with_reason(bad, reason):
    with pytest.raises(Mol3DError, match=reason):
        parse_struct_sfi(bad, "rec-7")


def test_count_joint_tokens():
    sel, joint = count_joint_tokens(["[C 1][C 1][Branch1 -1][C -1][O 2]",
                                     "<|mol_3d_start|>[C 1][O 3]<|mol_3d_end|>"])
    assert sel == Counter({"[C]": 4, "[O]": 2, "[Branch1]": 1})
    assert joint == Counter({"[C 1]": 3, "[O 2]": 1, "[O 3]": 1, "[Branch1 -1]": 1, "[C -1]": 1})
    with pytest.raises(Mol3DError, match="string 1"):
        count_joint_tokens(["[C 1]", "[C 1"])


@pytest.mark.slow
def test_fast_selfies_matches_selfies_encoder_on_nci_5k():
    from biomatrix_plugin.mol3d.fast_selfies import kekule_smiles_to_selfies

    path = Path(RDConfig.RDDataDir) / "NCI" / "first_5K.smi"
    if not path.exists():
        pytest.skip(f"RDKit's bundled NCI file is missing: {path}")
    fast = raised = 0
    for line in path.read_text().splitlines()[:5000]:
        mol = Chem.MolFromSmiles(line.split()[0]) if line.strip() else None
        if mol is None:
            continue
        for frag in Chem.GetMolFrags(mol, asMols=True):
            smi = Chem.MolToSmiles(Chem.AddHs(frag), canonical=True, kekuleSmiles=True, isomericSmiles=False)
            got = kekule_smiles_to_selfies(smi)
            try:
                ref = sf.encoder(smi)
            except sf.EncoderError:
                raised += 1
                assert got is None, smi  # the library must get the chance to raise its own error
                continue
            if got is None:
                continue
            fast += 1
            assert "".join(got[0]) == ref, smi
            assert got[1] == atom_symbol_mask(split_symbols(ref)), smi
    assert fast > 4500 and raised > 0


def test_fast_selfies_declines_what_it_does_not_cover():
    from biomatrix_plugin.mol3d.fast_selfies import kekule_smiles_to_selfies

    for smi in ["c1ccccc1", "C[C@H](N)O", "[13CH4]", "C.C", "F/C=C/F", "[N+](=O)(C)[O-]"[:3]]:
        assert kekule_smiles_to_selfies(smi) is None, smi
    symbols, mask = kekule_smiles_to_selfies("[H]OC1=CC=CC=C1[N+](=O)[O-]")
    assert "".join(symbols) == sf.encoder("[H]OC1=CC=CC=C1[N+](=O)[O-]")
