"""1D molecule–protein sources beyond BindingDB: jglaser/binding_affinity (parquet, -log10 M affinities)
and STITCH 5 (identifier links joined to the chemical table and STRING sequences), on fixtures with the
real columns (tests/corpus/fixtures/make_interaction_fixtures.py), including broken rows."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
import selfies as sf
import yaml
from rdkit import Chem

from biomatrix_plugin.corpus.builders import BUILDERS
from biomatrix_plugin.corpus.compose import record_rng
from biomatrix_plugin.corpus.interactions import verbalize_measure
from biomatrix_plugin.corpus.records import RecordRejected, iter_records, parse_record
from biomatrix_plugin.corpus.registry import validate_card
from biomatrix_plugin.modalities.serialization import unwrap

HERE = Path(__file__).resolve().parent
FIX = HERE / "fixtures"
CARDS = HERE / "cards"


def card_params(name: str) -> tuple[dict, Path, str]:
    card = yaml.safe_load((CARDS / f"{name}.yaml").read_text())
    params = dict(card["builder"]["params"])
    for key in ("chemical_table", "sequence_table"):
        if key in params:
            params[key] = str((CARDS / params[key]).resolve())
    return params, (CARDS / card["input"]["path"]).resolve(), card["input"]["format"]


def run(name: str):
    params, path, fmt = card_params(name)
    accepted, rejected = {}, {}
    for rec in iter_records([str(path)], fmt):
        try:
            fields = parse_record(rec.raw, fmt)
            accepted[rec.position] = BUILDERS["binding_affinity"].function(
                fields, record_rng(0, name, rec.source, rec.position), params)[0]["text"]
        except RecordRejected as exc:
            rejected[rec.position] = str(exc)
    return accepted, rejected


def canon(smiles: str) -> str:
    return Chem.MolToSmiles(Chem.MolFromSmiles(smiles))


def test_jglaser_rows_state_the_affinity_as_a_concentration():
    accepted, rejected = run("fx_jglaser")
    rows = pq.read_table(FIX / "jglaser_binding_sample.parquet").to_pylist()
    assert sorted(accepted) == [0, 1, 2]
    assert "RDKit cannot parse" in rejected[3] and "no value" in rejected[4] and "invalid character" in rejected[5]
    for i, text in accepted.items():
        u = unwrap(text)
        assert not u.errors
        assert u.values("protein") == [rows[i]["seq"]]
        for smi in u.values("smiles"):
            assert smi == canon(rows[i]["smiles_can"])
        for sfi in u.values("selfies"):
            assert canon(sf.decoder(sfi)) == canon(rows[i]["smiles_can"])
        # the concentration the statement names is 10^-p M, within the 3 significant digits shown
        p = rows[i]["neg_log10_affinity_M"]
        assert text.split("\n")[-1].startswith("Measured binding: Binding affinity = ")
        assert f"(-log10 M = {round(p, 2 if p < 10 else 1):g})" in text
    assert accepted[0].endswith("= 1.67 µM (-log10 M = 5.78).")  # 10^-5.777 M = 1.671 µM
    assert accepted[1].endswith("= 300 pM (-log10 M = 9.52).")


def test_stitch_links_are_joined_to_chemicals_and_sequences():
    accepted, rejected = run("fx_stitch")
    assert sorted(accepted) == [0, 1, 2]
    assert "'CIDm00009999' is not in chemical_table" in rejected[3]
    assert "'9606.ENSP00000999999' is not in sequence_table" in rejected[4]
    assert "150 is below min=400" in rejected[5]
    assert "C1CC(" in rejected[6]
    fasta = (FIX / "stitch" / "9606.protein.sequences.v11.0.fa").read_text().split(">")[1:]
    sequences = {e.split("\n", 1)[0]: "".join(e.split("\n", 1)[1].split()) for e in fasta}
    u = unwrap(accepted[0])
    assert u.values("protein") == [sequences["9606.ENSP00000354587"]]
    assert all(s == canon("CC(=O)OC1=CC=CC=C1C(=O)O") for s in u.values("smiles"))
    assert accepted[0].endswith("Chemical–protein interaction evidence: STITCH combined score = 0.976.")
    assert unwrap(accepted[2]).values("protein") == [sequences["9606.ENSP00000250971"]]


@pytest.mark.parametrize("spec,raw,expected", [
    ({"column": "x", "name": "Kd", "kind": "uM"}, "0.25", "Kd = 250 nM"),
    ({"column": "x", "name": "Ki", "kind": "nM"}, ">10000", "Ki greater than 10 µM"),
    ({"column": "x", "name": "Binding affinity", "kind": "p_molar"}, "6", "Binding affinity = 1 µM (-log10 M = 6)"),
    ({"column": "x", "name": "score", "kind": "score", "scale": 0.001}, "976", "score = 0.976"),
    ({"column": "x", "name": "dG", "kind": "score", "unit": "kcal/mol"}, "-9.456", "dG = -9.46 kcal/mol"),
])
def test_measures_are_verbalized_with_units(spec, raw, expected):
    assert verbalize_measure(raw, spec) == expected


def test_measure_errors_name_the_value_and_card_errors_name_the_field():
    with pytest.raises(RecordRejected, match="'n/a' is not a number"):
        verbalize_measure("n/a", {"column": "x", "kind": "p_molar"})
    card = yaml.safe_load((CARDS / "fx_stitch.yaml").read_text())
    card["builder"]["params"]["measures"] = [{"column": "combined_score", "kind": "percent", "scal": 1}]
    errors = "\n".join(validate_card(card, "fx_stitch.yaml"))
    assert "builder.params.measures[0].kind: 'percent' is not one of nM, uM, p_molar, score" in errors
    assert "builder.params.measures[0].scal: unknown key; expected one of column, kind, min, name, scale, unit" \
        in errors
