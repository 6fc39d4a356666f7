"""The modality table is the one place a modality is defined, and the rules every wrap shares."""

from __future__ import annotations

import re

import pytest

from biomatrix_plugin.modalities import table
from biomatrix_plugin.modalities.serialization import (
    SerializationError,
    check_free_text,
    find_control_token,
    parse_code_list,
    unwrap,
    validate_smiles,
    wrap,
    wrap_mol3d,
    wrap_prot3d,
    wrap_protein,
)
from biomatrix_plugin.vocab.tokens import CONTROL_DESCRIPTIONS, CONTROL_TOKENS
from biomatrix_plugin.vocab.vocabulary import CATEGORIES, classify_token

_NUCLEOTIDE = re.compile(r"<N ([ACGT])>")


def _dna_payload(value):
    seq = value.upper()
    if not seq or set(seq) - set("ACGT"):
        raise SerializationError(f"DNA {value!r}: letters outside ACGT")
    return "".join(f"<N {c}>" for c in seq)


def _parse_dna(payload, check_vocabulary=True):
    letters = _NUCLEOTIDE.findall(payload)
    if "".join(f"<N {c}>" for c in letters) != payload:
        raise SerializationError(f"DNA segment {payload!r}: not a sequence of <N X> tokens")
    return "".join(letters)


@pytest.fixture
def dna(monkeypatch):
    entry = table.Modality("dna", "<|dna_start|>", "<|dna_end|>", "DNA sequence", None,
                           payload=_dna_payload, parse=_parse_dna, value_help="a DNA sequence")
    monkeypatch.setitem(table.MODALITIES, "dna", entry)
    return entry


def test_one_table_entry_is_enough_for_every_dispatch(dna, capsys):
    """Adding a modality is one entry: wrap, unwrap, the free-text rule, the {col|modality} placeholders
    and the `wrap --modality` choices all pick it up (each had its own list before)."""
    from biomatrix_plugin.cli import main
    from biomatrix_plugin.llamafactory.formatting import render

    wrapped = wrap("dna", "acgt")
    assert wrapped == "<|dna_start|><N A><N C><N G><N T><|dna_end|>"
    res = unwrap(f"gene {wrapped} and {wrap_protein('MK')}; stray <|dna_end|>")
    assert res.values("dna") == ["ACGT"] and res.values("protein") == ["MK"]
    assert res.text == "gene {dna0} and {protein0}; stray {dna1}" and "without a matching start" in res.errors[0].error
    assert find_control_token("a <|dna_start|> b") == "<|dna_start|>"
    with pytest.raises(SerializationError, match="control token <\\|dna_end\\|>"):
        check_free_text("x <|dna_end|>", "annotation")
    assert render("Gene: {g|dna}, {g|nope}", {"g": "GATTACA"}).startswith("Gene: <|dna_start|><N G>")
    assert render("{g|nope}", {"g": "x"}) == "{g|nope}"  # not a modality: left alone, as other braces
    assert main(["wrap", "--modality", "dna", "gat"]) == 0
    assert capsys.readouterr().out.strip() == "<|dna_start|><N G><N A><N T><|dna_end|>"


def test_table_agrees_with_the_vocabulary_upstream():
    """The control-token strings live in vocab.tokens (the vocabulary is built from them one stage up);
    the table reads them, and each entry's category is a vocabulary category its payload tokens fall in."""
    from biomatrix_plugin.cli import build_parser

    assert list(table.MODALITIES) == list(CONTROL_TOKENS)
    samples = {"smiles": "CCO", "selfies": "[C][C][O]", "mol3d": "[C 1][C 2][O 3]", "protein": "MKW",
               "prot3d": [1, 2, 4095]}
    assert set(samples) == set(table.MODALITIES)
    for name, m in table.MODALITIES.items():
        assert (m.start, m.end) == CONTROL_TOKENS[name]
        assert CONTROL_DESCRIPTIONS[m.start] == f"Begins a {m.phrase}" and classify_token(m.end) == "control"
        payload = m.make_payload(samples[name])
        if m.category is None:
            continue
        assert m.category in CATEGORIES
        tokens = re.findall(r"<[^<>]+>|\[[^\[\]]+\]", payload)
        assert tokens and {classify_token(t) for t in tokens} == {m.category}, name
    wrap_action = next(a for a in build_parser()._subparsers._group_actions[0].choices["wrap"]._actions
                       if a.dest == "modality")
    assert list(wrap_action.choices) == list(table.MODALITIES)


@pytest.mark.parametrize(
    "text, named",
    [
        ("١ ٢ ٣", ["field 1 '١'", "field 2 '٢'", "field 3 '٣'"]),  # Arabic-Indic digits: int() takes them
        ("1,,2", ["field 2 '' is empty"]),
        ("1,2,", ["field 3 '' is empty"]),
        ("１２", ["field 1 '１２'"]),  # full-width digits
        ("1_000", ["field 1 '1_000'"]),  # int() takes underscores
        ("+1 -2", ["field 1 '+1'", "field 2 '-2'"]),
        ("1\u00a02", ["field 1 '1\\xa02'"]),  # a no-break space is not a separator
        ("1,x,,٣", ["field 2 'x'", "field 3 '' is empty", "field 4 '٣'"]),
    ],
)
def test_structure_codes_as_text_are_ascii_digits_and_every_bad_field_is_named(text, named):
    with pytest.raises(SerializationError) as err:
        wrap("prot3d", text)
    for fragment in named:
        assert fragment in str(err.value)


def test_structure_code_separators():
    assert parse_code_list(" 1, 2 3\t4\n") == [1, 2, 3, 4]
    assert wrap("prot3d", "1,2") == wrap_prot3d([1, 2])
    for empty in ("", "  "):
        with pytest.raises(SerializationError, match="empty"):
            wrap("prot3d", empty)


@pytest.mark.parametrize("modality, value", [("mol3d", 5), ("selfies", 5), ("prot3d", 5), ("protein", None),
                                             ("smiles", 3.0), ("prot3d", {"a": 1})])
def test_a_value_of_the_wrong_type_is_a_serialization_error(modality, value):
    # a number in a dataset column used to end in a TypeError from inside a regex
    with pytest.raises(SerializationError):
        wrap(modality, value)


@pytest.mark.parametrize("struct_sfi", ["[C -1]", "[C 1][Branch1 5][O 2]", "[Xx 3]", "[F 1][F 2][F 3]"])
def test_wrap_and_unwrap_accept_the_strings_decode_accepts(struct_sfi):
    """wrap --modality mol3d and a decoded segment use the one validator of mol3d decode."""
    with pytest.raises(SerializationError):
        wrap_mol3d(struct_sfi)
    seg = unwrap(f"<|mol_3d_start|>{struct_sfi}<|mol_3d_end|>").segments[0]
    assert seg.value is None and seg.error
    assert wrap_mol3d("[C 1][C 2][O 3]") == "<|mol_3d_start|>[C 1][C 2][O 3]<|mol_3d_end|>"


def test_validate_smiles_leaves_rdkit_logging_as_it_was():
    """It used to call RDLogger.DisableLog('rdApp.*') on every call, silencing RDKit for the process."""
    from rdkit import RDLogger, rdBase

    RDLogger.EnableLog("rdApp.error")
    with pytest.raises(SerializationError):
        validate_smiles("C1CC")
    assert validate_smiles("CCO") == "CCO"
    assert "rdApp.error:enabled" in rdBase.LogStatus()


def test_wrap_cli_error_is_one_line_and_exit_2(capsys):
    from biomatrix_plugin.cli import main

    assert main(["wrap", "--modality", "prot3d", "1,,2"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "field 2 '' is empty" in err
