from collections import Counter

import pytest

from biomatrix_plugin.vocab.tokens import CONTROL_TOKENS, RESIDUE_NAMES
from biomatrix_plugin.vocab.vocabulary import (
    build_from_counts,
    import_from_tokenizer,
    load_vocabulary,
    select_by_coverage,
)


def test_committed_vocabulary_categories():
    vocab = load_vocabulary()
    control = vocab.entries["control"]
    assert [t for t, _ in control] == [t for pair in CONTROL_TOKENS.values() for t in pair]
    assert dict(control)["<|mol_smi_start|>"] == "Begins a molecule SMILES string"
    assert dict(control)["<|prot_3d_end|>"] == "Ends a protein 3D structure"
    residues = dict(vocab.entries["residue"])
    assert len(residues) == 26 and residues["<A W>"] == "Tryptophan" and residues["<A U>"] == "Selenocysteine"
    assert residues["<A X>"] == "any amino acid"
    structure = vocab.entries["prot3d"]
    assert len(structure) == 4096 and structure[0] == ("<S 0>", "<S 0>") and structure[-1][0] == "<S 4095>"
    assert all(t == d for t, d in vocab.entries["selfies"])  # raw token string as its description
    assert {"[C]", "[=O]", "[Branch1]", "[Ring1]"} <= set(vocab.selfies_tokens)
    assert len(set(vocab.tokens())) == len(vocab.tokens())
    assert set(RESIDUE_NAMES) == {t[3] for t, _ in vocab.entries["residue"]}


def test_coverage_rule_keeps_smallest_prefix():
    counts = Counter({"[C 1]": 50, "[C 2]": 30, "[N 3]": 15, "[O 4]": 4, "[S 5]": 1})
    assert select_by_coverage(counts, 0.5) == ["[C 1]"]
    assert select_by_coverage(counts, 0.80) == ["[C 1]", "[C 2]"]
    assert select_by_coverage(counts, 0.99) == ["[C 1]", "[C 2]", "[N 3]", "[O 4]"]
    assert select_by_coverage(counts, 1.0) == list(counts)
    with pytest.raises(ValueError):
        select_by_coverage(counts, 0)


def test_build_from_counts_reports_coverage():
    joint = Counter({"[C 1]": 90, "[Branch1 -1]": 9, "[N 2]": 1})
    vocab, report = build_from_counts(Counter({"[C]": 5, "[N]": 1}), joint, coverage=0.95)
    assert vocab.joint_tokens == ["[C 1]", "[Branch1 -1]"]
    assert report["joint_coverage"] == pytest.approx(0.99)
    # every branch/ring symbol is kept even if unseen: their sizes depend on the molecule
    assert {"[Branch3]", "[=Ring2]", "[C]", "[N]"} <= set(vocab.selfies_tokens)


def test_import_round_trips_an_extended_tokenizer(tiny_extended_model, tmp_path):
    vocab = load_vocabulary()
    imported = import_from_tokenizer(tiny_extended_model)
    assert imported.tokens() == vocab.tokens()
    imported.save(tmp_path)
    assert load_vocabulary(tmp_path).descriptions() == vocab.descriptions()


def test_import_rejects_plain_qwen3(tiny_base_dir):
    with pytest.raises(ValueError, match="not a BioMatrix tokenizer"):
        import_from_tokenizer(tiny_base_dir)


def test_vocab_build_cli_counts_and_rejects(tmp_path):
    import json

    from biomatrix_plugin.cli import main

    corpus = tmp_path / "c.jsonl"
    rows = [
        {"text": "x <|mol_sfi_start|>[C][C][O]<|mol_sfi_end|> y <|mol_3d_start|>[C 5][C 5][O 7]<|mol_3d_end|>"},
        {"struct_sfi": "[C 5][C 5][N 2]"},
        {"smiles": "c1ccccc1"},
        {"smiles": "not a smiles"},
        {"other": 1},
    ]
    corpus.write_text("\n".join(json.dumps(r) for r in rows) + "\n{broken\n")
    out = tmp_path / "vocab"
    assert main(["vocab", "build", "--corpus", str(corpus), "--out", str(out), "--coverage", "0.5", "--quiet"]) == 0
    report = json.loads((out / "build_report.json").read_text())
    assert report["records"] == 6 and report["rejected"] == 3
    assert (out / "mol3d_joint.tsv").read_text().splitlines()[1:] == ["[C 5]\t[C 5]"]
    rejects = (out / "rejects.tsv").read_text()
    assert "c.jsonl:4" in rejects and "c.jsonl:5" in rejects and "not JSON" in rejects


def test_import_keeps_released_ids_whatever_the_category_order(tiny_base_dir, tmp_path):
    """A release may order categories differently (here protein structure before SELFIES);
    `vocab import` + `extend` must reproduce its ids exactly."""
    from tokenizers import AddedToken
    from transformers import AutoTokenizer

    from biomatrix_plugin.model.extend import extend_model

    vocab = load_vocabulary()
    order = ["control", "residue", "prot3d", "mol3d", "selfies"]
    released = AutoTokenizer.from_pretrained(tiny_base_dir)
    released.add_tokens([AddedToken(t, special=False, normalized=False) for c in order for t, _ in vocab.entries[c]])
    released.save_pretrained(tmp_path / "released")
    imported = import_from_tokenizer(tmp_path / "released")
    imported.save(tmp_path / "vocab")
    reloaded = load_vocabulary(tmp_path / "vocab")
    assert reloaded.expected_ids == imported.expected_ids and (tmp_path / "vocab" / "ids.tsv").exists()
    extend_model(tiny_base_dir, tmp_path / "ext", reloaded, noise_scale=0.0)
    ext = AutoTokenizer.from_pretrained(tmp_path / "ext")
    for token in ["<A W>", "<S 0>", "<S 4095>", "[C]", vocab.joint_tokens[0]]:
        assert ext.convert_tokens_to_ids(token) == released.convert_tokens_to_ids(token), token
    assert released.convert_tokens_to_ids("<S 0>") < released.convert_tokens_to_ids("[C]")  # really reordered


def test_vocab_build_counts_selfies_of_the_canonical_smiles_the_corpus_emits(tmp_path):
    """NCI writes pyrrole as kekulé 'C1=CNC=C1' (SELFIES [N]); the corpus builders emit RDKit's canonical
    'c1cc[nH]c1' (SELFIES [NH1]). The vocabulary must hold what instances will contain."""
    import selfies as sf
    from rdkit import Chem

    from biomatrix_plugin.corpus.molecules import molecule_views
    from biomatrix_plugin.modalities.census import count_records

    kekule = "C1=CNC=C1"
    assert "[NH1]" not in sf.encoder(kekule)
    counts = count_records([("r1", {"smiles": kekule})])
    emitted = molecule_views({"smiles": kekule}, {}, want_3d=False).selfies
    assert set(sf.split_selfies(emitted)) <= set(counts.selfies)
    assert "[NH1]" in counts.selfies and emitted == sf.encoder(Chem.MolToSmiles(Chem.MolFromSmiles(kekule)))


def test_demo_molecules_all_serialize_with_the_committed_vocabulary(tmp_path):
    """The demo writes canonical SMILES (as the corpus builders do), so every one of its molecules has a
    SELFIES inside the committed vocabulary; NCI's raw kekulé forms would need symbols such as [PH0]."""
    import json

    from biomatrix_plugin.demo.data import build_demo_data
    from biomatrix_plugin.llamafactory.formatting import render

    counts = build_demo_data(tmp_path, n_molecules=400)
    assert counts.rejected == [] and counts.written["sft_smiles2selfies"] == 400
    for line in (tmp_path / "sft_smiles2selfies.jsonl").read_text().splitlines()[:50]:
        row = json.loads(line)
        assert render(row["output"], row).startswith("<|mol_sfi_start|>")


def test_vocab_build_learns_selfies_symbols_the_current_vocabulary_lacks(tmp_path):
    """The documented route (an open corpus build, then `vocab build` on it) must grow the vocabulary:
    ions, isotopes and rarer stereo symbols are not in the committed demo vocabulary."""
    import json

    from biomatrix_plugin.cli import main
    from biomatrix_plugin.vocab.vocabulary import load_vocabulary

    new_symbols = {"[C@@]", "[/O]", "[Na+1]", "[2H]"}
    assert not new_symbols & set(load_vocabulary(None).selfies_tokens)
    corpus = tmp_path / "corpus.jsonl"
    rows = ["SELFIES: <|mol_sfi_start|>[C][C@@][Branch1][C][N][Branch1][C][F][O]<|mol_sfi_end|>",
            "Salt <|mol_sfi_start|>[C][C][O-1].[Na+1]<|mol_sfi_end|> and "
            "<|mol_sfi_start|>[C][/C][=C][/O]<|mol_sfi_end|>",
            "Deuterated <|mol_sfi_start|>[2H][C][Branch1][C][2H][2H]<|mol_sfi_end|>",
            "broken <|mol_sfi_start|>[C][C<|mol_sfi_end|>"]
    corpus.write_text("\n".join(json.dumps({"text": t}) for t in rows) + "\n")
    out = tmp_path / "vocab"
    assert main(["vocab", "build", "--corpus", str(corpus), "--out", str(out), "--quiet"]) == 0
    learned = set(load_vocabulary(out).selfies_tokens)
    assert new_symbols <= learned
    report = json.loads((out / "build_report.json").read_text())
    assert report["rejected"] == 1 and "corpus.jsonl:4" in (out / "rejects.tsv").read_text()


def test_vocab_build_reads_a_zinc_tranche_without_counting_its_header(tmp_path):
    from biomatrix_plugin.modalities.census import count_files

    tranche = tmp_path / "AAAB.smi"
    tranche.write_text("smiles zinc_id\nCCO ZINC000000000682\nc1cc[nH]c1 ZINC000000001234\n")
    counts = count_files([tranche], progress=False)
    assert counts.records == 2 and counts.rejected == [] and counts.selfies["[NH1]"] == 1
