"""The SMolInstruct converter on its hand-written fixture (published data.zip layout): every bad row is a
reject with its reason, every converted row round-trips through unwrap in its notation, tags are stripped,
repeated test inputs pool their golds, and prompts follow the pool rules."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from rdkit import Chem

from biomatrix_plugin.modalities.serialization import unwrap
from biomatrix_plugin.tasks.build import BuildOptions, build_task
from biomatrix_plugin.tasks.registry import TaskRegistry

FIXTURES = Path(__file__).resolve().parent / "fixtures"

# task -> the reject reasons its fixture must produce (substrings), one per bad row
EXPECTED_REJECTS = {
    "smolinstruct_i2f": ["input: empty text field", "output: empty text field"],
    "smolinstruct_i2s": ["output: SMILES 'C1CC1(': RDKit cannot parse it"],
    "smolinstruct_s2f": ["input: SMILES 'CC(C)(C)(C)(C)C': RDKit cannot parse it",
                         "output: 'two carbons' is not a molecular formula"],
    "smolinstruct_s2i": ["unpaired SMolInstruct tag <SMILES>", "task is 'name_conversion-s2f', expected"],
    "smolinstruct_esol": ["'nan' is not a finite number", "'soluble' is not a number"],
    "smolinstruct_lipo": ["input: SMILES 'XYZ': RDKit cannot parse it"],
    "smolinstruct_bbbp": ["label 'Maybe' is outside the label set", "output: empty label"],
    "smolinstruct_clintox": ["label 'Maybe' is outside the label set", "output: empty label"],
    "smolinstruct_hiv": ["label 'Maybe' is outside the label set", "output: empty label"],
    "smolinstruct_sider": ["output['Metabolism and nutrition disorders']: label 'Perhaps'", "empty target mapping"],
    "smolinstruct_molcap": ["free text contains the control token <|mol_smi_start|>",
                            "input: SMILES 'C1=CC': RDKit cannot parse it"],
    "smolinstruct_molgen": ["input: empty text field", "output: SMILES 'C1=CC': RDKit cannot parse it"],
    "smolinstruct_forward_synthesis": ["input: SMILES 'CCBr.C1CC': RDKit cannot parse it"],
    "smolinstruct_retrosynthesis": ["invalid JSON"],
}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tasks_out")
    opts = BuildOptions(raw_root=FIXTURES, out_dir=out, progress=False, shards=2)
    for task in TaskRegistry().select("all"):
        if task.id.startswith("smolinstruct_"):
            build_task(task, opts)
    return out


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _inchi(smiles: str) -> str:
    return Chem.MolToInchi(Chem.MolFromSmiles(smiles))


@pytest.mark.parametrize("task_id", sorted(EXPECTED_REJECTS))
def test_rejects_name_their_reason(built, task_id):
    rejects = _rows(built / task_id / "rejects.jsonl")
    reasons = [r["reason"] for r in rejects]
    assert len(reasons) == len(EXPECTED_REJECTS[task_id]), reasons
    for want in EXPECTED_REJECTS[task_id]:
        assert any(want in r for r in reasons), (want, reasons)
    assert all(r["source"].startswith("smolinstruct/raw/train/") and isinstance(r["position"], int) for r in rejects)
    manifest = json.loads((built / task_id / "manifest.json").read_text())
    assert manifest["records"]["train"]["rejected"] == len(reasons)
    assert manifest["rows"]["train"]["smiles"]["rows"] == manifest["rows"]["train"]["selfies"]["rows"] > 0


@pytest.mark.parametrize("task_id", sorted(EXPECTED_REJECTS))
def test_rows_round_trip_through_unwrap(built, task_id):
    task = TaskRegistry().get(task_id)
    for variant in ("smiles", "selfies"):
        for name in ("train", "test"):
            for row in _rows(built / task_id / variant / f"{name}.jsonl"):
                text = row["instruction"] + row["input"] + (row.get("output") or row["answer"])
                parsed = unwrap(text, check_vocabulary=False)
                assert not parsed.errors, (row, parsed.errors)
                molecules = [s for s in parsed.segments]
                assert {s.modality for s in molecules} <= {variant}
                expected = [row["raw_input"]] * (task["input"]["kind"] == "molecule")
                if task["response"]["kind"] == "molecule":
                    expected.append(row["raw_output"] if name == "train" else None)
                assert len(molecules) == len(expected), row
                for seg, smiles in zip(molecules, expected):
                    if smiles is None:
                        continue
                    value = seg.value if variant == "smiles" else Chem.MolToSmiles(
                        Chem.MolFromSmiles(__import__("selfies").decoder(seg.value)))
                    assert _inchi(value) == _inchi(smiles), (seg, smiles)


def test_both_variants_show_the_same_molecule_with_the_same_template(built):
    smiles = _rows(built / "smolinstruct_retrosynthesis" / "smiles" / "train.jsonl")
    selfies = _rows(built / "smolinstruct_retrosynthesis" / "selfies" / "train.jsonl")
    assert [r["template"] for r in smiles] == [r["template"] for r in selfies]
    assert [r["raw_input"] for r in smiles] == [r["raw_input"] for r in selfies]
    assert all("SMILES" not in r["instruction"] for r in selfies)


def test_tags_are_stripped_and_molecules_canonical(built):
    rows = _rows(built / "smolinstruct_forward_synthesis" / "smiles" / "train.jsonl")
    # the row written with doubled <SMILES> tags (the v1.1.0 retrosynthesis defect) is converted
    assert "CC(C)=O.[BH4-].[Na+]" in {r["raw_input"] for r in rows}
    # kekulé input becomes RDKit's canonical (aromatic) form, once, for both notations
    assert "CN.O=C(Cl)c1ccccc1" in {r["raw_input"] for r in rows}
    retro = _rows(built / "smolinstruct_retrosynthesis" / "smiles" / "train.jsonl")
    assert "CC(C)=O" in {r["raw_output"] for r in retro}
    assert not any("<SMILES>" in json.dumps(r) for r in rows + retro)


def test_repeated_test_inputs_pool_every_gold(built):
    rows = _rows(built / "smolinstruct_forward_synthesis" / "smiles" / "test.jsonl")
    assert [r["id"] for r in rows] == [0, 1, 2]  # every test row is kept (the benchmark's denominator)
    pooled = [r for r in rows if r["raw_input"] == "CC(=O)O.CCO"]
    assert len(pooled) == 2 and all(sorted(r["references"]) == ["CCOC(C)=O", "CCOC(C)=O.O"] for r in pooled)
    s2i = _rows(built / "smolinstruct_s2i" / "smiles" / "test.jsonl")
    acetone = [r for r in s2i if r["raw_input"] == "CC(C)=O"]
    assert len(acetone) == 2 and all(sorted(r["references"]) == ["acetone", "propan-2-one"] for r in acetone)
    selfies = _rows(built / "smolinstruct_retrosynthesis" / "selfies" / "test.jsonl")
    assert all(ref.startswith("[") for r in selfies for ref in r["references"])  # golds in the variant's notation
    manifest = json.loads((built / "smolinstruct_forward_synthesis" / "manifest.json").read_text())
    assert manifest["rows"]["test"]["smiles"] == {"rows": 3, "distinct_inputs": 2, "inputs_with_several_golds": 1}
    assert manifest["table31"] == {"train": 971809, "test": 4062}


def test_test_split_uses_the_first_template_and_prompt_joins_input(built):
    for row in _rows(built / "smolinstruct_s2i" / "smiles" / "test.jsonl"):
        assert row["template"] == 0
        assert row["prompt"] == row["instruction"] + ("\n" + row["input"] if row["input"] else "")


def test_labels_numbers_and_targets(built):
    bbbp = _rows(built / "smolinstruct_bbbp" / "smiles" / "train.jsonl")
    assert Counter(r["output"] for r in bbbp) == {"Yes": 2, "No": 1}  # JSON true is verbalised as Yes
    esol = _rows(built / "smolinstruct_esol" / "smiles" / "train.jsonl")
    assert {r["output"] for r in esol} == {"1.10 log mol/L", "-1.55 log mol/L", "-2.21 log mol/L"}
    esol_test = _rows(built / "smolinstruct_esol" / "smiles" / "test.jsonl")
    assert {r["references"][0] for r in esol_test} == {0.0, 0.54}  # the number itself, for rmse
    sider = _rows(built / "smolinstruct_sider" / "smiles" / "train.jsonl")
    assert len(sider) == 6 and all(r["target"] in r["instruction"] for r in sider)


def test_dataset_info_has_one_entry_per_task_and_variant(built):
    from biomatrix_plugin.corpus.registry import validate_dataset_info

    info = json.loads((built / "dataset_info.json").read_text())
    assert len(info) == 28 and "smolinstruct_s2i_selfies" in info
    errors, warnings = validate_dataset_info(info, built, require_files=True)
    assert errors == [] and warnings == []


@pytest.mark.parametrize("smiles", ["CC(=O)O.CCO", "[Na+].[BH4-].CC(C)=O", "C1.C1", "O.O.c1ccncc1",
                                    "C[C@H](N)C(=O)O.Cl"])
def test_entity_canonical_form_and_selfies_match_the_whole_molecule(smiles):
    import selfies as sf

    from biomatrix_plugin.tasks.entities import molecule

    mol = molecule(smiles, "input")
    whole = Chem.MolFromSmiles(smiles)
    # components canonicalised one by one (cached per distinct component) are the same molecule set
    assert sorted(Chem.MolToInchi(Chem.MolFromSmiles(c)) for c in mol.smiles.split(".")) == \
        sorted(Chem.MolToInchi(f) for f in Chem.GetMolFrags(whole, asMols=True))
    assert mol.smiles.split(".") == sorted(mol.smiles.split("."))
    # and the joined per-component SELFIES is what the encoder gives for the joined SMILES
    assert mol.selfies == sf.encoder(mol.smiles, strict=True)


def test_every_column_keeps_one_type_so_llamafactory_loads_the_file(built):
    """The BBBP fixture writes its label as "Yes" in one row and true in another (both seen in SMolInstruct
    versions); a column that mixes strings and booleans makes LLaMA-Factory's JSON loader fail
    ("Column(/raw_output) changed from string to boolean")."""
    for path in sorted(built.glob("*/*/train.jsonl")):
        types: dict[str, set] = {}
        for row in _rows(path):
            for key, value in row.items():
                types.setdefault(key, set()).add(type(value).__name__)
        mixed = {k: t for k, t in types.items() if len(t - {"NoneType"}) > 1}
        assert not mixed, f"{path}: columns with mixed types {mixed}"
        assert types.get("raw_output", {"str"}) == {"str"}, path
