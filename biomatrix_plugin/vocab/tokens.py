"""The fixed part of the BioMatrix vocabulary: control tokens, residue tokens and structure tokens.

Corpus-derived tokens (SELFIES symbols, molecule-3D joint tokens) live in ``tokenizer_ext/`` and are
handled by :mod:`biomatrix_plugin.vocab.vocabulary`.
"""

from __future__ import annotations

# modality -> (start token, end token). The modality table (biomatrix_plugin.modalities.table) reads these
# strings; they are defined here because the vocabulary, one stage upstream, is built from them.
CONTROL_TOKENS: dict[str, tuple[str, str]] = {
    "smiles": ("<|mol_smi_start|>", "<|mol_smi_end|>"),
    "selfies": ("<|mol_sfi_start|>", "<|mol_sfi_end|>"),
    "mol3d": ("<|mol_3d_start|>", "<|mol_3d_end|>"),
    "protein": ("<|prot_aa_start|>", "<|prot_aa_end|>"),
    "prot3d": ("<|prot_3d_start|>", "<|prot_3d_end|>"),
}

# modality -> what a segment holds; the control tokens' descriptions ("Begins a ...") embed it, and
# description-based init (model.extend) tokenizes those descriptions.
CONTROL_PHRASES: dict[str, str] = {
    "smiles": "molecule SMILES string",
    "selfies": "molecule SELFIES string",
    "mol3d": "molecule 3D structure",
    "protein": "protein amino acid sequence",
    "prot3d": "protein 3D structure",
}

CONTROL_DESCRIPTIONS: dict[str, str] = {}
for _m, (_s, _e) in CONTROL_TOKENS.items():
    CONTROL_DESCRIPTIONS[_s] = f"Begins a {CONTROL_PHRASES[_m]}"
    CONTROL_DESCRIPTIONS[_e] = f"Ends a {CONTROL_PHRASES[_m]}"

# The 26 IUPAC protein letters: 20 standard, plus B J O U X Z.
RESIDUE_NAMES: dict[str, str] = {
    "A": "Alanine", "B": "Aspartic acid or asparagine", "C": "Cysteine", "D": "Aspartic acid",
    "E": "Glutamic acid", "F": "Phenylalanine", "G": "Glycine", "H": "Histidine", "I": "Isoleucine",
    "J": "Leucine or isoleucine", "K": "Lysine", "L": "Leucine", "M": "Methionine", "N": "Asparagine",
    "O": "Pyrrolysine", "P": "Proline", "Q": "Glutamine", "R": "Arginine", "S": "Serine",
    "T": "Threonine", "U": "Selenocysteine", "V": "Valine", "W": "Tryptophan", "X": "any amino acid",
    "Y": "Tyrosine", "Z": "Glutamic acid or glutamine",
}
RESIDUE_LETTERS = "".join(sorted(RESIDUE_NAMES))
STANDARD_RESIDUES = "ACDEFGHIKLMNPQRSTVWY"

N_PROTEIN_STRUCTURE_CODES = 4096  # GCP-VQVAE Large codebook
N_MOL3D_CODES = 512  # MolStrucTok codebook
NON_ATOM_CODE = -1  # code paired with SELFIES branch/ring symbols in joint tokens


def residue_token(letter: str) -> str:
    return f"<A {letter}>"


def structure_token(code: int) -> str:
    return f"<S {code}>"


def joint_token(selfies_symbol: str, code: int) -> str:
    """``[C]`` + 42 -> ``[C 42]``; ``[Branch1]`` + -1 -> ``[Branch1 -1]``."""
    if not (selfies_symbol.startswith("[") and selfies_symbol.endswith("]")):
        raise ValueError(f"not a SELFIES symbol: {selfies_symbol!r}")
    return f"{selfies_symbol[:-1]} {code}]"


def fixed_tokens() -> list[tuple[str, str]]:
    """(token, description) for every corpus-independent token, in vocabulary order."""
    out: list[tuple[str, str]] = []
    for start, end in CONTROL_TOKENS.values():
        out.append((start, CONTROL_DESCRIPTIONS[start]))
        out.append((end, CONTROL_DESCRIPTIONS[end]))
    out.extend((residue_token(l), RESIDUE_NAMES[l]) for l in RESIDUE_LETTERS)
    out.extend((structure_token(i), structure_token(i)) for i in range(N_PROTEIN_STRUCTURE_CODES))
    return out
