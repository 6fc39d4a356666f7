"""The one joint-token validator (modalities/mol3d_tokens.py): what it accepts and refuses, and that
`mol3d decode` and `parse_struct_sfi` refuse exactly what it refuses."""

from __future__ import annotations

import pytest

from biomatrix_plugin.modalities.mol3d_tokens import decode_struct_sfi, validate_struct_sfi
from biomatrix_plugin.modalities.serialization import SerializationError
from biomatrix_plugin.mol3d import Mol3DError
from biomatrix_plugin.mol3d.joint_tokens import parse_struct_sfi

GOOD = "[H 3][C 0][Branch1 -1][C -1][H 304][C 315][=Branch1 -1][C -1][=O 129][O 38][H 17]"

BAD = [
    ("[C 3][Xx 3]", r"token 1 \[Xx 3\]: SELFIES cannot decode \[Xx\]"),
    ("[Og 1]", r"token 0 \[Og 1\]: SELFIES cannot decode \[Og\]"),
    ("[C -1]", r"token 0 \[C -1\] is an atom symbol but has no code"),
    ("[C 1][Branch1 5][C -1][O 2]", r"token 1 \[Branch1 5\] makes no atom .* carries a code"),
    ("[C 1][Branch1 -1][C 7][O 2]", r"token 2 \[C 7\] makes no atom"),  # an index symbol, not an atom
    ("[F 1][F 2][F 3]", "3 atom codes but the tokens decode to 2 atoms"),  # another molecule's tokens
    ("[Branch1 -1][C -1][C 2][C 4]", "decode to 3 atoms"),
    ("[C 3][C 600]", "code outside 0-511"),
    ("[C 3] [O 2]", "not a sequence of"),
    ("", "empty"),
]


def test_valid_strings_bare_and_wrapped():
    pairs = validate_struct_sfi(GOOD)
    assert pairs[:3] == [("[H]", 3), ("[C]", 0), ("[Branch1]", -1)]
    assert validate_struct_sfi(f"<|mol_3d_start|>{GOOD}<|mol_3d_end|>") == pairs
    symbols, codes, smiles = decode_struct_sfi(GOOD)
    assert codes == [3, 0, 304, 315, 129, 38, 17] and len(symbols) == len(pairs) and smiles


@pytest.mark.parametrize("text, reason", BAD)
def test_invalid_strings_name_the_token_and_reason(text, reason):
    with pytest.raises(SerializationError, match=reason):
        validate_struct_sfi(text)
    with pytest.raises(SerializationError, match=f"record 7: .*{reason}"):
        validate_struct_sfi(text, "record 7")


@pytest.mark.parametrize("text, reason", BAD)
def test_mol3d_parser_refuses_what_the_validator_refuses(text, reason):
    with pytest.raises(Mol3DError, match=reason):
        parse_struct_sfi(text)


def test_decode_refuses_what_the_validator_refuses():
    from mol3d_shared import tokenizer

    out = tokenizer().decode_many([t for t, _ in BAD] + [GOOD], on_error="record")
    assert all(isinstance(o, str) for o in out[:-1]) and out[-1].GetNumAtoms() == 7
