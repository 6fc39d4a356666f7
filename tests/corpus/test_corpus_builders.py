"""Builders on small fixtures in the real formats: what they keep, what they reject and why, and the
statistics of stochastic composition."""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from pathlib import Path

import pytest
import selfies as sf
import yaml
from rdkit import Chem

from biomatrix_plugin.corpus.builders import BUILDERS
from biomatrix_plugin.corpus.compose import format_concentration_nm, format_sig, record_rng
from biomatrix_plugin.corpus.records import RecordRejected, iter_records, parse_record
from biomatrix_plugin.modalities.serialization import unwrap
from conftest import molstructok_checkpoint_path

FIX = Path(__file__).resolve().parent / "fixtures"


def run_builder(builder: str, fmt: str, path: Path, params: dict | None = None, seed: int = 0,
                options: dict | None = None) -> tuple[list[tuple[str, list[dict]]], dict[str, str]]:
    """(accepted [(where, instances)], rejected {where: reason})."""
    accepted, rejected = [], {}
    for rec in iter_records([str(path)], fmt):
        try:
            fields = parse_record(rec.raw, fmt, options)
            rng = record_rng(seed, builder, rec.source, rec.position)
            accepted.append((rec.where, BUILDERS[builder].function(fields, rng, params or {})))
        except RecordRejected as exc:
            rejected[rec.where] = str(exc)
    return accepted, rejected


def canon(smiles: str) -> str:
    return Chem.MolToSmiles(Chem.MolFromSmiles(smiles))


# ---------------------------------------------------------------- molecules

def test_pubchem_sdf_views_match_the_molecule_and_bad_records_are_rejected_with_reasons():
    every_view = {"views": {"smiles": 1.0, "selfies": 1.0, "mol3d": 0.0}}
    accepted, rejected = run_builder("molecule", "sdf", FIX / "pubchem_compounds.sdf", every_view)
    assert len(accepted) == 10
    assert set(rejected) == {"pubchem_compounds.sdf#10", "pubchem_compounds.sdf#11", "pubchem_compounds.sdf#12"}
    assert "not-a-number" in rejected["pubchem_compounds.sdf#10"]
    assert "RDKit cannot parse" in rejected["pubchem_compounds.sdf#11"]
    assert "M  END" in rejected["pubchem_compounds.sdf#12"]
    supplier = [m for m in Chem.SDMolSupplier(str(FIX / "pubchem_compounds.sdf")) if m is not None]
    for (where, instances), mol in zip(accepted, supplier):
        assert len(instances) == 1
        u = unwrap(instances[0]["text"])
        assert not u.errors, (where, u.errors)
        # The record's own SMILES wins over stereo perceived from its conformer: PubChem's ibuprofen
        # (CID 3672) is racemic, yet its 3D conformer necessarily has one handedness.
        expected = canon(mol.GetProp("PUBCHEM_SMILES")) if mol.HasProp("PUBCHEM_SMILES") else \
            Chem.MolToSmiles(Chem.RemoveHs(mol))
        (smi,) = u.values("smiles")
        assert smi == expected, where
        (sfi,) = u.values("selfies")
        assert canon(sf.decoder(sfi)) == expected, where
    ibuprofen = dict(accepted)["pubchem_compounds.sdf#3"]
    assert "@" not in unwrap(ibuprofen[0]["text"]).values("smiles")[0]


def test_instances_do_not_depend_on_the_directory_the_corpus_sits_in(tmp_path):
    moved = tmp_path / "elsewhere" / "pubchem_compounds.sdf"
    moved.parent.mkdir()
    moved.write_bytes((FIX / "pubchem_compounds.sdf").read_bytes())
    here, _ = run_builder("molecule", "sdf", FIX / "pubchem_compounds.sdf", seed=3)
    there, _ = run_builder("molecule", "sdf", moved, seed=3)
    assert here == there
    other_seed, _ = run_builder("molecule", "sdf", moved, seed=4)
    assert other_seed != there


def test_properties_have_units_and_sensible_precision():
    rec = parse_record(next(iter_records([str(FIX / "pubchem_properties.csv")], "csv")).raw, "csv")
    params = {"views": {"smiles": 1.0, "selfies": 1.0, "mol3d": 0.0},
              "fields": {"iupac_name": 1.0, "description": 1.0, "properties": 1.0}}
    text = BUILDERS["molecule"].function(rec, random.Random(1), params)[0]["text"]
    lines = set(text.split("\n"))
    assert "Molecular weight: 180.16 g/mol" in lines  # 180.159 in the file
    assert "Topological polar surface area: 63.6 Å²" in lines
    assert "Hydrogen bond donors: 1" in lines and "Hydrogen bond acceptors: 3" in lines
    assert "IUPAC name: 2-acetyloxybenzoic acid" in lines
    assert any(l.startswith("Aspirin is a salicylate") for l in lines)


@pytest.mark.parametrize("raw", ["nan", "inf", float("nan")])
def test_non_finite_molecule_properties_are_rejected(raw):
    with pytest.raises(RecordRejected, match="property molecular_weight=.* is not finite"):
        BUILDERS["molecule"].function({"smiles": "CCO", "MolecularWeight": raw}, random.Random(0), {})


def test_csv_rejects_unparseable_smiles_and_rows_with_surplus_cells():
    accepted, rejected = run_builder("molecule", "csv", FIX / "pubchem_properties.csv")
    assert len(accepted) == 6
    assert "C1CC(" in rejected["pubchem_properties.csv#6"]
    assert "more cell" in rejected["pubchem_properties.csv#7"]
    # the same row is accepted when the card says surplus cells are expected
    accepted2, rejected2 = run_builder("molecule", "csv", FIX / "pubchem_properties.csv",
                                       options={"extra_cells": "ignore"})
    assert "pubchem_properties.csv#7" not in rejected2 and len(accepted2) == 7


def test_stochastic_composition_samples_fields_at_their_probabilities_and_shuffles_order():
    rec = parse_record(next(iter_records([str(FIX / "pubchem_properties.csv")], "csv")).raw, "csv")
    params = {"views": {"smiles": 0.5, "selfies": 0.5, "mol3d": 0.0},
              "fields": {"iupac_name": 0.3, "description": 1.0, "properties": 0.0, "tpsa": 0.8}}
    n = 400
    seen, first = Counter(), Counter()
    for i in range(n):
        text = BUILDERS["molecule"].function(rec, random.Random(i), params)[0]["text"]
        lines = text.split("\n")
        keys = {"smiles" if "<|mol_smi_start|>" in l else "selfies" if "<|mol_sfi_start|>" in l
                else "iupac" if l.startswith("IUPAC") else "tpsa" if l.startswith("Topological") else
                "description" if l.startswith("Aspirin") else "other" for l in lines}
        seen.update(keys)
        first[lines[0].split(":")[0]] += 1
        assert "other" not in keys, text  # properties at 0.0 never appear
    assert seen["description"] == n
    assert 0.22 < seen["iupac"] / n < 0.38
    assert 0.72 < seen["tpsa"] / n < 0.88
    # each view at 0.5, topped up to at least one view: P(smiles) = 0.5 + 0.25 * 0.5
    assert 0.55 < seen["smiles"] / n < 0.70
    assert len(first) >= 4  # interchangeable components lead in different instances


def test_composition_is_deterministic_for_a_seed():
    a, _ = run_builder("molecule", "sdf", FIX / "pubchem_compounds.sdf", seed=7)
    b, _ = run_builder("molecule", "sdf", FIX / "pubchem_compounds.sdf", seed=7)
    c, _ = run_builder("molecule", "sdf", FIX / "pubchem_compounds.sdf", seed=8)
    assert a == b
    assert a != c


def test_selfies_vocabulary_can_be_enforced(tmp_path):
    from biomatrix_plugin.vocab.vocabulary import fixed_vocabulary

    vocab = fixed_vocabulary()
    vocab.entries["selfies"] = [("[C]", "[C]"), ("[O]", "[O]")]
    vocab.save(tmp_path)
    rec = {"smiles": "CCO"}
    params = {"views": {"smiles": 0.0, "selfies": 1.0}, "selfies_vocabulary": str(tmp_path)}
    assert "[C][C][O]" in BUILDERS["molecule"].function(rec, random.Random(0), params)[0]["text"]
    with pytest.raises(RecordRejected, match=r"not in the vocabulary: \[N\]"):
        BUILDERS["molecule"].function({"smiles": "CCN"}, random.Random(0), params)


def test_moltextnet_pairs_always_carry_the_description():
    accepted, rejected = run_builder("molecule_text", "jsonl", FIX / "moltextnet_pairs.jsonl")
    assert len(accepted) == 4
    assert "description" in rejected["moltextnet_pairs.jsonl#4"]
    assert "invalid JSON" in rejected["moltextnet_pairs.jsonl#5"]
    for _, inst in accepted:
        u = unwrap(inst[0]["text"])
        assert u.segments and not u.errors
        assert re.search(r"\b(is|are)\b", u.text)  # the prose survives


def test_conformer_builder_emits_the_molstructok_view():
    pytest.importorskip("torch")
    from biomatrix_plugin.corpus.molecules import mol3d_available

    if not mol3d_available():
        pytest.skip("biomatrix_plugin.mol3d (MolStrucTok) is not installed")
    molstructok_checkpoint_path()
    accepted, rejected = run_builder("conformer", "sdf", FIX / "pubchem_compounds.sdf")
    assert len(accepted) == 10 and len(rejected) == 3
    from biomatrix_plugin.modalities.serialization import parse_joint_tokens

    supplier = [m for m in Chem.SDMolSupplier(str(FIX / "pubchem_compounds.sdf")) if m is not None]
    flat = lambda smi: Chem.MolToSmiles(Chem.MolFromSmiles(smi), isomericSmiles=False)
    for (where, inst), mol in zip(accepted, supplier):
        u = unwrap(inst[0]["text"])
        # "open" vocabulary (the default): SELFIES symbols the committed vocabulary lacks are expected
        # here (this build is what creates the vocabulary); unwrap flags them, anything else is a bug
        structural = [e for e in u.errors if "unknown tokens" not in (e.error or "")]
        assert not structural, (where, structural)
        (struct,) = u.values("mol3d")
        symbols = "".join(s for s, _ in parse_joint_tokens(struct))
        # the joint tokens spell the (explicit-hydrogen) SELFIES of the record's molecule
        assert flat(sf.decoder(symbols)) == flat(Chem.MolToSmiles(mol)), where
    # a molecule without 3D coordinates is rejected by the conformer builder with the reason
    with pytest.raises(RecordRejected, match="no 3D conformer"):
        BUILDERS["conformer"].function({"smiles": "CCO"}, random.Random(0), {})


# ---------------------------------------------------------------- proteins

def test_uniref_fasta_gives_the_1d_view_only():
    accepted, rejected = run_builder("fasta_sequence", "fasta", FIX / "uniref50_sample.fasta")
    assert [w for w, _ in accepted] == ["uniref50_sample.fasta#0", "uniref50_sample.fasta#1", "uniref50_sample.fasta#4"]
    assert "invalid character" in rejected["uniref50_sample.fasta#2"]
    assert "no sequence" in rejected["uniref50_sample.fasta#3"]
    first = accepted[0][1][0]["text"]
    u = unwrap(first)
    assert u.text == "{protein0}"  # nothing but the wrapped sequence
    assert u.first("protein").startswith("MVLSPADKTNVKAAWGKVGAHAGEYGAEALERMF") and len(u.first("protein")) == 142
    assert unwrap(accepted[2][1][0]["text"]).first("protein") == "MKUVLAGCW"


def test_uniprot_composite_has_annotations_without_evidence_or_citations():
    params = {"annotations": {k: 1.0 for k in ("name", "gene", "organism", "lineage", "keywords", "function",
                                               "subcellular_location", "catalytic_activity", "ec_numbers", "comments")}}
    accepted, rejected = run_builder("uniprot", "uniprot_dat", FIX / "uniprot_sample.dat", params)
    assert len(accepted) == 2
    assert "50 AA" in rejected["uniprot_sample.dat#2"] and "10 residues" in rejected["uniprot_sample.dat#2"]
    assert "no SQ" in rejected["uniprot_sample.dat#3"]
    assert "truncated" in rejected["uniprot_sample.dat#4"]
    (_, (ins_view, ins_comp)), (_, (tr_view, tr_comp)) = accepted
    assert unwrap(ins_view["text"]).text == "{protein0}"
    text = ins_comp["text"]
    for needle in ("Protein name: Insulin", "Gene: INS", "Organism: Homo sapiens (Human)",
                   "Subcellular location: Secreted.", "Insulin decreases blood glucose concentration",
                   "Eukaryota > Metazoa", "Hormone"):
        assert needle in text, needle
    for banned in ("ECO:", "PubMed", "Copyrighted", "Bell G.I.", "Nature 284"):
        assert banned not in text and banned not in tr_comp["text"], banned
    assert unwrap(text).first("protein") == unwrap(ins_view["text"]).first("protein")
    assert "ATP + H2O = ADP + phosphate + H(+) (EC 3.6.4.12)" in tr_comp["text"]
    assert "Gene: ybeX" in tr_comp["text"] and "Organism: Escherichia coli" in tr_comp["text"]


def test_uniprot_evidence_removal_leaves_single_periods():
    """UniProt closes a sentence, then its evidence ("Secreted. {ECO:...}."): one period must remain."""
    from biomatrix_plugin.corpus.uniprot import parse_uniprot_entry, strip_evidence

    records = list(iter_records([str(FIX / "uniprot_sample.dat")], "uniprot_dat"))[:2]  # the two valid entries
    entries = [parse_uniprot_entry(r.raw) for r in records]
    ins, tr = entries
    assert ins["comments"]["subcellular_location"] == ["Secreted."]
    assert ins["comments"]["similarity"] == ["Belongs to the insulin family."]
    assert ins["comments"]["subunit"] == ["Heterodimer of a B chain and an A chain linked by two disulfide bonds."]
    assert ins["comments"]["function"][0].endswith("glycogen synthesis in liver.")
    assert tr["comments"]["subcellular_location"] == ["Cytoplasm."]
    for entry in entries:
        strings = [entry["name"], entry["gene"], entry["organism"], *entry["alt_names"], *entry["keywords"],
                   *entry["lineage"], *(t for texts in entry["comments"].values() for t in texts)]
        assert not [t for t in strings if t and (".." in t or "ECO" in t or "{" in t)], entry["id"]
    # citations between the sentence and its evidence, and the Evidence= key of structured comments
    assert strip_evidence("Binds DNA. (PubMed:1, PubMed:2). {ECO:0000269}.") == "Binds DNA."
    assert strip_evidence("Name=Zn(2+); Xref=ChEBI:CHEBI:29105; Evidence={ECO:0000250};") == \
        "Name=Zn(2+); Xref=ChEBI:CHEBI:29105;"
    assert strip_evidence("Cell membrane {ECO:1}; Multi-pass membrane protein {ECO:2}. Note=Apical. {ECO:3}.") == \
        "Cell membrane; Multi-pass membrane protein. Note=Apical."
    assert strip_evidence("Ellipses stay... as written.") == "Ellipses stay... as written."


def test_protein_structures_follow_the_three_view_pattern():
    accepted, rejected = run_builder("protein_structure", "csv", FIX / "vq_indices_sample.csv")
    assert len(accepted) == 2 and len(rejected) == 3
    assert "2 indices but the sequence has 3" in rejected["vq_indices_sample.csv#2"]
    assert "5000" in rejected["vq_indices_sample.csv#3"]
    for _, instances in accepted:
        kinds = [tuple(sorted(s.modality for s in unwrap(i["text"]).segments)) for i in instances]
        assert kinds[:3] == [("protein",), ("prot3d",), ("prot3d", "protein")]


# ---------------------------------------------------------------- text, interleaved, interactions

def test_text_passthrough_keeps_text_byte_for_byte():
    accepted, rejected = run_builder("text", "jsonl", FIX / "text_docs.jsonl")
    assert [i[0]["text"] for _, i in accepted][2] == "Ünïcödé text: 5 µM, 37 °C, α-helix."
    assert len(accepted) == 3 and len(rejected) == 3
    assert "missing" in rejected["text_docs.jsonl#3"] and "invalid JSON" in rejected["text_docs.jsonl#5"]


def test_interleaved_mentions_are_followed_by_their_structure():
    params = {"entity_table": str(FIX / "interleaved_entities.jsonl")}
    accepted, rejected = run_builder("interleaved", "jsonl", FIX / "interleaved_docs.jsonl", params)
    assert len(accepted) == 2
    assert "0 mention(s)" in rejected["interleaved_docs.jsonl#2"]
    assert "outside the text" in rejected["interleaved_docs.jsonl#3"]
    assert "overlaps" in rejected["interleaved_docs.jsonl#4"]
    assert "CHEBI:BROKEN" in rejected["interleaved_docs.jsonl#5"]
    text = accepted[0][1][0]["text"]
    u = unwrap(text)
    assert not u.errors
    # the prose is intact once the inserted segments are removed
    stripped = re.sub(r"( \{\w+\})+", "", u.text)
    assert stripped == "Aspirin inhibits platelet aggregation, while insulin lowers blood glucose."
    assert re.match(r"Aspirin \{(smiles|selfies)0\}", u.text)
    assert "insulin {protein0} lowers" in u.text
    assert u.first("protein").startswith("MALWMRLLPLL")
    # an unlinked mention stays plain text
    assert "XYZ-123 were tested" in accepted[1][1][0]["text"]


def test_binding_affinities_are_verbalized_with_units():
    accepted, rejected = run_builder("binding_affinity", "tsv", FIX / "bindingdb_sample.tsv",
                                     options={"extra_cells": "ignore"})
    assert len(accepted) == 3
    texts = [i[0]["text"] for _, i in accepted]
    assert texts[0].endswith("Binding affinity: IC50 = 1.67 µM.")
    assert texts[1].endswith("Binding affinity: Ki greater than 10 µM.")
    assert "Ki = 250 pM" in texts[2] and "Kd = 12.5 nM" in texts[2]
    assert "Target: Prostaglandin G/H synthase 1 <|prot_aa_start|>" in texts[0]
    assert "C1CC(" in rejected["bindingdb_sample.tsv#3"]
    assert "no affinity value" in rejected["bindingdb_sample.tsv#4"]
    assert "'abc'" in rejected["bindingdb_sample.tsv#5"]


def test_protein_pairs_with_labels_and_affinities():
    accepted, rejected = run_builder("protein_pair", "tsv", FIX / "ppi_sample.tsv")
    assert [i[0]["text"].rsplit("\n", 1)[1] for _, i in accepted] == [
        "These two proteins interact.", "These two proteins do not interact."]
    assert len(rejected) == 3 and "'*'" in rejected["ppi_sample.tsv#4"]
    params = {"affinity_name": "Predicted log10 Kd", "affinity_unit": "(log10 nM)"}
    accepted, rejected = run_builder("protein_pair", "csv", FIX / "ppi_affinity_sample.csv", params)
    assert accepted[0][1][0]["text"].endswith("Predicted log10 Kd: 2.35 (log10 nM).")
    assert accepted[1][1][0]["text"].endswith("Predicted log10 Kd: -0.000123 (log10 nM).")
    assert "n/a" in rejected["ppi_affinity_sample.csv#2"]


@pytest.mark.parametrize("raw", ["nan", "NaN", "inf", "-inf", "Infinity", "1e999"])
def test_protein_pair_rejects_non_finite_affinities(raw):
    pair = BUILDERS["protein_pair"].function
    record = {"sequence_a": "MKTAYIAK", "sequence_b": "EVQLVESG", "affinity": raw}
    with pytest.raises(RecordRejected, match=rf"affinity '{raw}' \(column 'affinity'\) is not finite"):
        pair(record, random.Random(0), {})
    assert pair({**record, "affinity": "2.5"}, random.Random(0), {})[0]["text"].endswith("Binding affinity: 2.5.")


@pytest.mark.parametrize("raw", ["-400", "400", "nan", "inf"])
def test_p_molar_measures_outside_any_concentration_are_rejected(raw):
    from biomatrix_plugin.corpus.interactions import verbalize_measure

    with pytest.raises(RecordRejected, match="pKd value"):
        verbalize_measure(raw, {"column": "p", "name": "pKd", "kind": "p_molar"})
    assert verbalize_measure("6", {"column": "p", "name": "pKd", "kind": "p_molar"}) == "pKd = 1 µM (-log10 M = 6)"


@pytest.mark.parametrize("value,expected", [(0.25, "250 pM"), (12500, "12.5 µM"), (1670, "1.67 µM"),
                                            (3, "3 nM"), (2e7, "20 mM"), (1e-4, "100 fM"),
                                            # rounding to 3 digits reaches the next unit: it is used
                                            (999.6, "1 µM"), (0.99951, "1 nM"), (999_960, "1 mM"),
                                            (999.4, "999 nM"), (0.9994, "999 pM")])
def test_concentrations_read_naturally(value, expected):
    assert format_concentration_nm(value) == expected


@pytest.mark.parametrize("raw,reason", [("1-2", "not a number"), ("1e5e3", "not a number"), (">1e999", "not finite"),
                                        ("0", "must be positive"), ("abc", "not a number")])
def test_unparseable_affinities_are_rejects_with_a_reason(raw, reason):
    """The build writes any other exception as 'internal error': a bad value must be a RecordRejected."""
    from biomatrix_plugin.corpus.interactions import parse_affinity, verbalize_measure

    with pytest.raises(RecordRejected, match=f"Ki value '{re.escape(raw)}' .*{reason}"):
        parse_affinity(raw, "Ki")
    with pytest.raises(RecordRejected, match=reason):
        verbalize_measure(raw, {"column": "k", "name": "Ki", "kind": "uM"})


def test_significant_digits_never_use_scientific_notation():
    assert format_sig(0.000123456) == "0.000123"
    assert format_sig(123456.7) == "123457"
    assert format_sig(-2.3456) == "-2.35"
    assert format_sig(10.0) == "10" and format_sig(0.5) == "0.5"


def test_precomputed_molstructok_tokens_become_the_3d_view():
    """``biomatrix mol3d encode`` JSONL (batched encoding, done once) feeds the conformer builder."""
    accepted, rejected = run_builder("conformer", "jsonl", FIX / "mol3d_encoded.jsonl")
    assert len(accepted) == 3
    assert "outside 0-511" in rejected["mol3d_encoded.jsonl#3"]
    assert "no 3D conformer" in rejected["mol3d_encoded.jsonl#4"]
    import json

    rows = [json.loads(l) for l in (FIX / "mol3d_encoded.jsonl").read_text().splitlines()]
    for (where, inst), row in zip(accepted, rows):
        assert unwrap(inst[0]["text"]).values("mol3d") == [row["struct_sfi"]], where


def test_uniprot_entries_with_an_afdb_structure_get_three_views_and_a_3d_composite():
    params = {"structure_table": str(FIX / "afdb_vq_indices.csv"), "structure_probability": 1.0}
    accepted, rejected = run_builder("uniprot", "uniprot_dat", FIX / "uniprot_sample.dat", params)
    # INS_HUMAN's table row has another sequence: rejected with the reason, not silently paired
    assert "another sequence" in rejected["uniprot_sample.dat#0"]
    (where, instances), = accepted
    kinds = [tuple(sorted(s.modality for s in unwrap(i["text"]).segments)) for i in instances]
    assert kinds == [("protein",), ("prot3d",), ("prot3d", "protein"), ("prot3d", "protein")]
    u = unwrap(instances[-1]["text"])
    assert u.first("prot3d") == list(range(60))
    assert u.first("protein") == "MSKIAVLGAGGVGKTTLLRALAEQLNAPFVELDDLIEQRSGLSIPEIFAEHGEEGFRRLE"
    assert not u.errors and len(u.text.split("\n")) >= 3  # annotations around the two views


# ---------------------------------------------------------------- ZINC20 / .smi

def test_zinc20_smi_tranche_header_names_the_columns_and_bad_rows_are_rejected():
    every_view = {"views": {"smiles": 1.0, "selfies": 1.0, "mol3d": 0.0}}
    accepted, rejected = run_builder("molecule", "smi", FIX / "zinc20_sample.smi", every_view)
    rows = [l.split() for l in (FIX / "zinc20_sample.smi").read_text().splitlines()[1:] if l.strip()]
    assert len(accepted) + len(rejected) == len(rows) == 8  # the header is not a record; blank lines are not
    assert list(rejected) == ["zinc20_sample.smi#3"] and "RDKit cannot parse" in rejected["zinc20_sample.smi#3"]
    good = [r for i, r in enumerate(rows) if i != 3]
    for (where, instances), (smiles, _zinc_id) in zip(accepted, good):
        u = unwrap(instances[0]["text"])
        assert not u.errors, (where, u.errors)
        assert u.values("smiles") == [canon(smiles)]
        assert canon(sf.decoder(u.values("selfies")[0])) == canon(smiles)
    indole = unwrap(accepted[-1][1][0]["text"]).values("selfies")[0]
    assert "[NH1]" in indole  # aromatic N-H: the symbol the committed vocabulary was missing


def test_smi_rows_without_header_and_names_with_spaces(tmp_path):
    path = tmp_path / "nci.smi"
    path.write_text("CCO ethanol\nc1ccccc1 benzene ring name\nCC\n")
    rows = [parse_record(r.raw, "smi") for r in iter_records([str(path)], "smi")]
    assert rows == [{"smiles": "CCO", "name": "ethanol"},
                    {"smiles": "c1ccccc1", "name": "benzene ring name"},
                    {"smiles": "CC", "name": None}]
    tranche = tmp_path / "t.smi"
    tranche.write_text("SMILES zinc_id mwt logp\nCCO ZINC000000000682 46.069 -0.3135\n")
    (row,) = [parse_record(r.raw, "smi") for r in iter_records([str(tranche)], "smi")]
    assert row == {"smiles": "CCO", "zinc_id": "ZINC000000000682", "mwt": "46.069", "logp": "-0.3135"}
    text = BUILDERS["molecule"].function(row, random.Random(0), {"fields": {"properties": 1.0}})[0]["text"]
    assert "Molecular weight: 46.07 g/mol" in text.split("\n") and "LogP: -0.31" in text.split("\n")


def test_production_zinc20_card_builds_plain_and_gzipped_tranches(tmp_path):
    from biomatrix_plugin.corpus.build import build_card
    from biomatrix_plugin.corpus.registry import load_card

    repo = Path(__file__).resolve().parents[2]
    m = build_card(load_card(repo / "data_registry" / "cards" / "zinc20.yaml"), tmp_path, n_shards=2,
                   data_root=repo / "tests" / "corpus" / "smoke_root", progress=False)
    assert (m["totals"]["records"], m["totals"]["written"], m["totals"]["rejected"]) == (7, 6, 1)
    texts = [json.loads(l)["text"] for p in sorted((tmp_path / "zinc20").glob("*.jsonl"))
             for l in p.read_text().splitlines()]
    assert len(texts) == 6 and all(unwrap(t).segments and not unwrap(t).errors for t in texts)


def test_selfies_emitted_by_the_molecule_cards_are_all_committed_vocabulary_tokens(tmp_path):
    """What the production molecule cards write must tokenize one token per SELFIES symbol with the
    committed vocabulary (a kekulé-vs-aromatic mismatch once left [NH1] out of it)."""
    from biomatrix_plugin.corpus.build import build_card
    from biomatrix_plugin.corpus.registry import load_card
    from biomatrix_plugin.modalities.serialization import split_selfies
    from biomatrix_plugin.vocab.vocabulary import load_vocabulary

    molstructok_checkpoint_path()  # the production molecule cards also write the molecule-3D view
    repo = Path(__file__).resolve().parents[2]
    vocab = set(load_vocabulary(None).selfies_tokens) | {"."}
    symbols = Counter()
    for name in ("pubchem_compounds", "zinc20", "moltextnet", "bindingdb"):
        card = yaml.safe_load((repo / "data_registry" / "cards" / f"{name}.yaml").read_text())
        if "views" in card["builder"].get("params", {}):  # every record shows its SELFIES here
            card["builder"]["params"]["views"]["selfies"] = 1.0
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(card))
        build_card(load_card(tmp_path / f"{name}.yaml"), tmp_path, n_shards=1,
                   data_root=repo / "tests" / "corpus" / "smoke_root", progress=False)
        for path in (tmp_path / name).glob("*.jsonl"):
            for line in path.read_text().splitlines():
                u = unwrap(json.loads(line)["text"])
                assert not u.errors, (name, u.errors)
                for s in u.values("selfies"):
                    symbols.update(split_selfies(s))
    assert sum(symbols.values()) > 100 and "[NH1]" in symbols
    assert set(symbols) <= vocab, set(symbols) - vocab
