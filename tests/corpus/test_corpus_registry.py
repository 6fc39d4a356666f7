"""Cards, the generated dataset_info.json, and what LLaMA-Factory 0.9.5 accepts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from biomatrix_plugin.cli import main as biomatrix_main
from biomatrix_plugin.corpus.builders import BUILDERS
from biomatrix_plugin.corpus.registry import (
    CardError,
    check_registry,
    generate_dataset_info,
    load_card,
    load_cards,
    manual_entries,
    validate_card,
    validate_dataset_info,
)

REPO = Path(__file__).resolve().parents[2]
REGISTRY = REPO / "data_registry"
CARDS = Path(__file__).resolve().parent / "cards"


def good_card() -> dict:
    return yaml.safe_load((CARDS / "fx_pubchem_sdf.yaml").read_text())


def test_committed_registry_is_valid_and_dataset_info_is_up_to_date():
    errors, warnings = check_registry(REGISTRY)
    assert errors == []
    committed = json.loads((REGISTRY / "dataset_info.json").read_text())
    generated = generate_dataset_info(load_cards(REGISTRY), manual_entries(REGISTRY))
    assert committed == generated
    # the hand-written entries survive the merge untouched
    for name, entry in manual_entries(REGISTRY).items():
        assert committed[name] == entry
    assert {"pubchem_compounds", "uniref50", "swissprot", "bindingdb", "fineweb_edu"} <= set(committed)


def test_llamafactory_parser_reads_every_generated_entry():
    from llamafactory.data.parser import get_dataset_list

    info = json.loads((REGISTRY / "dataset_info.json").read_text())
    attrs = get_dataset_list(list(info), str(REGISTRY))
    by_name = {a.dataset_name: a for a in attrs}
    entry = by_name["corpus/pubchem_compounds"]
    assert entry.load_from == "file" and entry.prompt == "text" and entry.formatting == "alpaca"


def test_fixture_cards_are_valid_and_cover_every_builder():
    from biomatrix_plugin.corpus.builders import BUILDERS

    cards = [load_card(p) for p in sorted(CARDS.glob("*.yaml"))]
    assert {c.builder for c in cards} == set(BUILDERS)


@pytest.mark.parametrize("mutate,message", [
    (lambda c: c.pop("license"), "missing required key 'license'"),
    (lambda c: c.update(licence="x"), "licence: unknown key; expected one of builder, category"),
    (lambda c: c.update(name="Bad-Name"), "must match"),
    (lambda c: c.update(category="chemistry"),
     "category: 'chemistry' is not one of text, molecule, protein, cross-entity"),
    (lambda c: c["builder"].update(name="nope"), "builder.name: 'nope' is not one of binding_affinity, conformer"),
    (lambda c: c["input"].update(format="fasta"), "does not read 'fasta'"),
    (lambda c: c["builder"]["params"]["views"].update(smiles=1.5),
     "builder.params.views.smiles: must be a probability in [0, 1], got 1.5"),
    (lambda c: c.update(sampling_weight=-1), "sampling_weight: must be a number > 0, got -1"),
    (lambda c: c["input"].update(options={"extra_cells": "maybe"}),
     "input.options.extra_cells: 'maybe' is not one of reject, ignore"),
    (lambda c: c.update(output={"file_name": "/abs/path"}),
     "output.file_name: must be a path relative to the registry"),
    (lambda c: c.update(output={"file_name": "corpus/.."}), "must end in a folder name"),
    (lambda c: c.update(output={"file_name": "corpus/_build"}), "must end in a folder name"),
    # builder params are checked against the builder's declaration: a typo never silently does nothing
    (lambda c: c["builder"]["params"].update(max_lenght=10),
     "card x.yaml: builder.params.max_lenght: unknown parameter of builder 'molecule'; expected one of"),
    (lambda c: c["builder"]["params"]["views"].update(smile=1.0),
     "card x.yaml: builder.params.views.smile: unknown key; expected one of mol3d, selfies, smiles"),
    (lambda c: c["builder"]["params"]["fields"].update(tpsaa=0.5), "builder.params.fields.tpsaa: unknown key"),
    (lambda c: c["builder"]["params"].update(selfies_vocabulary="defualt"),
     "builder.params.selfies_vocabulary: 'defualt' must be 'open', 'default' or the path"),
    (lambda c: c["builder"]["params"].update(require=["descripton"]),
     "builder.params.require[0]: unknown item 'descripton'"),
    (lambda c: c["builder"]["params"].update(field_names={"iupac": "IUPACName"}), "field_names.iupac: unknown key"),
    (lambda c: c["builder"]["params"].update(shuffle="yes"),
     "builder.params.shuffle: must be true or false, got 'yes'"),
    (lambda c: c["builder"]["params"].update(min_views=1.5),
     "builder.params.min_views: must be a non-negative integer, got 1.5"),
])
def test_invalid_cards_are_reported_with_the_field(mutate, message):
    card = good_card()
    mutate(card)
    errors = validate_card(card, "x.yaml")
    assert any(message in e for e in errors), errors
    assert len(errors) == 1, errors  # the good card is otherwise valid


@pytest.mark.parametrize("builder,fmt,params,message", [
    ("binding_affinity", "tsv", {"columns": {"smile": "SMILES"}}, "builder.params.columns.smile: unknown key"),
    ("binding_affinity", "tsv", {"chemical_tabel": "x.tsv"}, "builder.params.chemical_tabel: unknown parameter"),
    ("uniprot", "uniprot_dat", {"annotations": {"functon": 1.0}}, "builder.params.annotations.functon: unknown key"),
    ("uniprot", "uniprot_dat", {"structure_probability": 2},
     "builder.params.structure_probability: must be a probability in [0, 1], got 2"),
    ("fasta_sequence", "fasta", {"max_length": "8000"},
     "builder.params.max_length: must be a non-negative integer, got '8000'"),
    ("protein_pair", "tsv", {"columns": {"seq_a": "A"}}, "builder.params.columns.seq_a: unknown key"),
    ("protein_ligand_complex", "csv", {"ligand_view": {"smiles": 1.0}},
     "builder.params.ligand_view: unknown parameter"),
    ("protein_complex", "structure", {"max_rmsd": 2.0},
     "builder.params.max_rmsd: unknown parameter of builder 'protein_complex'"),
    ("interleaved", "jsonl", {"molecule_views": {"mol3d": 1.0}}, "builder.params.molecule_views.mol3d: unknown key"),
    ("text", "jsonl", {"text_field": 3}, "builder.params.text_field: must be a string, got 3"),
])
def test_params_of_every_builder_are_checked(builder, fmt, params, message):
    card = {"name": "c", "category": "protein", "source": {"name": "s"}, "license": "x",
            "input": {"format": fmt, "path": "x"}, "builder": {"name": builder, "params": params}}
    errors = validate_card(card, "c.yaml")
    assert len(errors) == 1 and message in errors[0], errors
    # null means "no limit" where the builder reads it so, and open/default/a path are vocabularies
    ok = {"molecule": {"selfies_vocabulary": "./tokenizer_ext", "require": ["description", "mol3d"]},
          "fasta_sequence": {"max_length": None}, "protein_ligand_complex": {"max_rmsd": None, "structure_root": "cd"}}
    for name, good in ok.items():
        card["builder"] = {"name": name, "params": good}
        card["input"]["format"] = BUILDERS[name].formats[0]
        assert validate_card(card, "c.yaml") == [], (name, good)


def test_every_builder_declares_the_params_its_code_reads():
    """The declaration is what validation trusts: each params.get("...") in a builder's module is declared
    by the builders that live there (a new parameter without a declaration would be refused on every card)."""
    import inspect
    import re

    from biomatrix_plugin.corpus import complexes, interactions, molecules, proteins, text

    read = set()
    for module in (complexes, interactions, molecules, proteins, text):
        read |= set(re.findall(r'params(?:\.get\(|\[)"([a-z_]+)"', inspect.getsource(module)))
    declared = {k for spec in BUILDERS.values() for k in spec.params}
    assert read <= declared, read - declared
    assert {"max_length", "views", "measures", "entity_table", "structure_codes"} <= read


def test_two_cards_writing_the_same_output_folder_are_refused():
    a = good_card()
    b = {**good_card(), "name": "fx_other", "output": {"file_name": "elsewhere/fx_pubchem_sdf"}}
    from biomatrix_plugin.corpus.registry import Card

    with pytest.raises(CardError, match=r"a.yaml: output folder 'fx_pubchem_sdf' \(output.file_name\) "
                                        r"is also the output folder of b.yaml"):
        generate_dataset_info([Card("a.yaml", a), Card("b.yaml", b)], {})
    b["output"]["file_name"] = "corpus/fx_other"
    assert set(generate_dataset_info([Card("a.yaml", a), Card("b.yaml", b)], {})) == {"fx_pubchem_sdf", "fx_other"}


def test_dataset_info_validation_names_keys_llamafactory_ignores(tmp_path):
    errors, _ = validate_dataset_info({"a": {"file_name": "a.jsonl", "colums": {"prompt": "text"}}})
    assert any("'colums' is not read by LLaMA-Factory" in e for e in errors)
    errors, _ = validate_dataset_info({"a": {"file_name": "a.jsonl", "columns": {"text": "text"}}})
    assert any("columns.text" in e for e in errors)
    errors, _ = validate_dataset_info({"a": {"columns": {"prompt": "text"}}})
    assert any("needs one of" in e for e in errors)
    (tmp_path / "mixed").mkdir()
    (tmp_path / "mixed" / "a.jsonl").write_text("{}\n")
    (tmp_path / "mixed" / "b.json").write_text("{}\n")
    errors, _ = validate_dataset_info({"m": {"file_name": "mixed"}}, tmp_path)
    assert any("mixes file types" in e for e in errors)
    errors, warnings = validate_dataset_info({"n": {"file_name": "not_built"}}, tmp_path)
    assert errors == [] and "does not exist yet" in warnings[0]
    errors, _ = validate_dataset_info({"n": {"file_name": "not_built"}}, tmp_path, require_files=True)
    assert "does not exist yet" in errors[0]


def copy_registry(tmp_path: Path) -> Path:
    reg = tmp_path / "registry"
    shutil.copytree(REGISTRY / "cards", reg / "cards")
    shutil.copy(REGISTRY / "dataset_info.json", reg / "dataset_info.json")
    if (REGISTRY / "manual_entries.json").exists():
        shutil.copy(REGISTRY / "manual_entries.json", reg / "manual_entries.json")
    return reg


def test_data_add_writes_one_card_and_regenerates_dataset_info(tmp_path, capsys):
    reg = copy_registry(tmp_path)
    rc = biomatrix_main(["data", "add", "--registry", str(reg), "--name", "my_fasta", "--builder", "fasta_sequence",
                         "--format", "fasta", "--path", "mine/*.fasta", "--license", "CC BY 4.0",
                         "--source-name", "My lab", "--weight", "1.5"])
    assert rc == 0
    card = load_card(reg / "cards" / "my_fasta.yaml")
    assert card.category == "protein" and card.sampling_weight == 1.5
    info = json.loads((reg / "dataset_info.json").read_text())
    assert info["my_fasta"] == {"file_name": "corpus/my_fasta", "columns": {"prompt": "text"}}
    assert biomatrix_main(["data", "check", "--registry", str(reg)]) == 0
    # a second card with the same name is refused, and nothing is written
    rc = biomatrix_main(["data", "add", "--registry", str(reg), "--name", "my_fasta", "--builder", "fasta_sequence",
                         "--format", "fasta", "--path", "x", "--license", "x", "--source-name", "x"])
    assert rc == 2 and "already exists" in capsys.readouterr().err


def test_check_flags_a_stale_dataset_info_and_name_clashes(tmp_path, capsys):
    reg = copy_registry(tmp_path)
    card = good_card()
    card["name"] = "fresh_card"
    (reg / "cards" / "fresh_card.yaml").write_text(yaml.safe_dump(card))
    assert biomatrix_main(["data", "check", "--registry", str(reg)]) == 1
    assert "out of date" in capsys.readouterr().err
    assert biomatrix_main(["data", "check", "--registry", str(reg), "--write"]) == 0
    (reg / "manual_entries.json").write_text(json.dumps({"fresh_card": {"file_name": "x.jsonl"}}))
    errors, _ = check_registry(reg)
    assert any("also a hand-written entry" in e for e in errors)
    with pytest.raises(CardError, match="unknown key"):
        (reg / "cards" / "broken.yaml").write_text(yaml.safe_dump({**card, "name": "broken", "oops": 1}))
        load_card(reg / "cards" / "broken.yaml")
