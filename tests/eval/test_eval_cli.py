"""`biomatrix eval metric|report` end to end, including bad input files."""

from __future__ import annotations

import json

import pytest

from biomatrix_plugin.cli import main

REQUIRED = ["validity", "uniqueness", "novelty", "exact_match", "inchi_match", "fts", "rmse", "mae", "pearson",
            "accuracy", "set_f1", "meteor", "rouge_l", "bleu2", "aar", "tm_score"]


def run(capsys, *argv):
    rc = main(["eval", *argv])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_list_names_every_required_metric(capsys):
    rc, out, _ = run(capsys, "metric", "--list")
    assert rc == 0
    names = {line.split()[0] for line in out.splitlines() if line.strip()}
    assert set(REQUIRED) <= names


def test_metric_prints_one_json_object(tmp_path, capsys):
    pred = tmp_path / "pred.txt"
    ref = tmp_path / "ref.txt"
    pred.write_text("OCC\nc1ccccc1\nnot-a-molecule\n")
    ref.write_text("CCO\nC1=CC=CC=C1\nCCN\n")
    rc, out, _ = run(capsys, "metric", "exact_match", "--pred", str(pred), "--ref", str(ref),
                     "--out", str(tmp_path / "res" / "em.json"), "--task", "smolinstruct_molgen", "--variant", "smiles")
    assert rc == 0
    obj = json.loads(out)
    assert obj["value"] == pytest.approx(2 / 3) and obj["n_items"] == 3 and obj["n_invalid"] == 1
    saved = json.loads((tmp_path / "res" / "em.json").read_text())
    assert saved["task"] == "smolinstruct_molgen" and saved["metric"] == "exact_match"


def test_jsonl_fields_lists_and_train(tmp_path, capsys):
    pred = tmp_path / "pred.jsonl"
    pred.write_text("\n".join(json.dumps({"id": i, "output": s}) for i, s in enumerate(["CCO", "CCN", "CCC"])) + "\n")
    train = tmp_path / "train.txt"
    train.write_text("OCC\n")
    rc, out, _ = run(capsys, "metric", "novelty", "--pred", str(pred), "--train", str(train))
    assert rc == 0 and json.loads(out)["value"] == pytest.approx(2 / 3)
    labels = tmp_path / "labels.jsonl"
    labels.write_text(json.dumps({"labels": ["a", "b"]}) + "\n")
    gold = tmp_path / "gold.jsonl"
    gold.write_text(json.dumps({"labels": ["b", "c"]}) + "\n")
    rc, out, _ = run(capsys, "metric", "set_f1", "--pred", str(labels), "--ref", str(gold), "--field", "labels")
    assert rc == 0 and json.loads(out)["value"] == pytest.approx(0.5)


def test_json_array_file(tmp_path, capsys):
    pred = tmp_path / "pred.json"
    pred.write_text(json.dumps(["CCO", "CCN", "bad("], indent=2))
    rc, out, _ = run(capsys, "metric", "validity", "--pred", str(pred))
    assert rc == 0 and json.loads(out)["value"] == pytest.approx(2 / 3)
    pred.write_text('[\n  "CCO",\n')
    rc, _, err = run(capsys, "metric", "validity", "--pred", str(pred))
    assert rc == 2 and "pred.json:3: not JSON" in err


def test_options_are_passed(tmp_path, capsys):
    pred, ref = tmp_path / "p.txt", tmp_path / "r.txt"
    pred.write_text("-1.5 kcal/mol\n")
    ref.write_text("0\n")
    rc, out, _ = run(capsys, "metric", "mae", "--pred", str(pred), "--ref", str(ref), "--option", "extract=first")
    assert rc == 0 and json.loads(out)["value"] == pytest.approx(1.5)
    rc, _, err = run(capsys, "metric", "mae", "--pred", str(pred), "--ref", str(ref), "--option", "extract")
    assert rc == 2 and "key=value" in err


def test_empty_prediction_file_is_not_computed(tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    for metric in ("validity", "uniqueness", "intdiv1"):
        rc, out, _ = run(capsys, "metric", metric, "--pred", str(empty))
        obj = json.loads(out)
        assert rc == 0 and obj["status"] == "not_computed" and obj["n_items"] == 0, metric
    rc, out, _ = run(capsys, "metric", "rmse", "--pred", str(empty), "--ref", str(empty))
    assert rc == 0 and json.loads(out)["status"] == "not_computed"


@pytest.mark.parametrize("case", ["missing", "line_count", "mixed", "bad_json", "unknown", "no_ref", "bad_ref",
                                  "unused_train", "unused_ref"])
def test_bad_inputs_give_clear_errors(tmp_path, capsys, case):
    pred, ref = tmp_path / "p.txt", tmp_path / "r.txt"
    pred.write_text("1\n2\n3\n")
    ref.write_text("1\n2\n3\n")
    args = ["metric", "rmse", "--pred", str(pred), "--ref", str(ref)]
    expect = {
        "missing": "nope.txt: no such file", "line_count": "3 predictions but 2 references",
        "mixed": "mixed item types",
        "bad_json": "p.jsonl:2: not JSON", "unknown": "unknown metric", "no_ref": "needs references",
        "bad_ref": "reference item 2", "unused_train": "--train is not used", "unused_ref": "--ref is not used",
    }[case]
    if case == "missing":
        args[3] = str(tmp_path / "nope.txt")
    elif case == "line_count":
        ref.write_text("1\n2\n")
    elif case == "mixed":
        mixed = tmp_path / "p.jsonl"
        mixed.write_text('"CCO"\n["CCO", "CCN"]\n3\n')
        args[3] = str(mixed)
    elif case == "bad_json":
        bad = tmp_path / "p.jsonl"
        bad.write_text('1\n{"prediction": \n3\n')
        args[3] = str(bad)
    elif case == "unknown":
        args[1] = "bleurt"
    elif case == "no_ref":
        args = args[:4]
    elif case == "bad_ref":
        ref.write_text("1\nNaN\n3\n")
    elif case == "unused_train":
        args += ["--train", str(ref)]
    elif case == "unused_ref":
        args[1] = "validity"
    rc, out, err = run(capsys, *args)
    assert rc == 2 and out == ""
    assert expect in err


def test_report_against_paper(tmp_path, capsys):
    res = tmp_path / "results"
    res.mkdir()
    (res / "acc.json").write_text(json.dumps({"metric": "accuracy", "value": 0.8, "n_items": 10, "n_invalid": 1,
                                              "status": "computed", "task": "smolinstruct_bbbp", "variant": "smiles"}))
    (res / "more.jsonl").write_text("\n".join([
        json.dumps({"metric": "rmse", "value": 1.5, "n_items": 5, "n_invalid": 0, "status": "computed",
                    "task": "peer_ppi_affinity"}),
        json.dumps({"metric": "meteor", "value": None, "n_items": 4, "n_invalid": 0, "status": "not_computed",
                    "reason": "WordNet data missing", "task": "smolinstruct_molcap", "variant": "smiles"}),
    ]) + "\n")
    rc, out, _ = run(capsys, "report", str(res))
    assert rc == 0
    md = (res / "report.md").read_text()
    png = (res / "report.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    # accuracy 0.8 shown as percent next to the paper's 84.86; delta -4.86
    bbbp = next(line for line in md.splitlines() if "smolinstruct_bbbp" in line)
    assert "| 80.00 |" in bbbp and "84.86" in bbbp and "-4.86" in bbbp
    ppi = next(line for line in md.splitlines() if "peer_ppi_affinity" in line)
    assert "| default |" in ppi and "2.35" in ppi and "rmse ↓" in ppi
    assert "not computed: WordNet data missing" in md

    rc, _, _ = run(capsys, "report", str(res), "--all-paper-rows")
    md = (res / "report.md").read_text()
    assert "pdbbind2020_affinity_3d" in md and "no result in the results directory" in md


def test_report_bad_inputs(tmp_path, capsys):
    rc, _, err = run(capsys, "report", str(tmp_path / "none"))
    assert rc == 2 and "not found" in err
    (tmp_path / "x.json").write_text('{"value": 1}')
    rc, _, err = run(capsys, "report", str(tmp_path))
    assert rc == 2 and "no 'metric' field" in err


def test_report_matches_the_papers_names(tmp_path, capsys):
    from rdkit import Chem
    from rdkit.Chem import AllChem

    ethanol = Chem.AddHs(Chem.MolFromSmiles("CCO"))
    AllChem.EmbedMolecule(ethanol, randomSeed=7)
    AllChem.MMFFOptimizeMolecule(ethanol)
    atoms = [a.GetSymbol() for a in ethanol.GetAtoms()]
    coords = ethanol.GetConformer().GetPositions()
    gen = tmp_path / "gen.jsonl"  # ethanol, and ethanol blown up x1.5: valid, but 9 fragments
    gen.write_text("".join(json.dumps({"atoms": atoms, "coords": (coords * f).tolist()}) + "\n" for f in (1.0, 1.5)))
    res = tmp_path / "results"
    assert run(capsys, "metric", "validity_3d", "--pred", str(gen), "--field", "*", "--option", "complete=true",
               "--task", "qm9_unconditional", "--out", str(res / "vc.json"))[0] == 0
    assert run(capsys, "metric", "atom_stability", "--pred", str(gen), "--field", "*",
               "--task", "qm9_unconditional", "--out", str(res / "as.json"))[0] == 0
    opt = tmp_path / "opt.txt"
    opt.write_text("c1ccccc1O\nbad(\nCCCO\nC1CC\n")  # 2 of 4 outputs invalid
    ref = tmp_path / "ref.jsonl"
    ref.write_text((json.dumps({"molecule": "CCO", "property": "qed", "direction": "increase"}) + "\n") * 4)
    for metric in ("correct_loose", "correct_strict"):
        assert run(capsys, "metric", metric, "--pred", str(opt), "--ref", str(ref), "--ref-field", "*",
                   "--task", "molopt_qed", "--variant", "smiles", "--out", str(res / f"{metric}.json"))[0] == 0
    strict = tmp_path / "strict.txt"
    strict.write_text("CCO\nCCN\nbad(\nCC\n")  # the strict run's own outputs: 3 of 4 valid
    assert run(capsys, "metric", "validity", "--pred", str(strict), "--task", "molopt_qed", "--variant", "smiles",
               "--report-as", "validity_strict", "--out", str(res / "vs.json"))[0] == 0
    assert run(capsys, "report", str(res))[0] == 0
    lines = (res / "report.md").read_text().splitlines()

    def row(task, metric):
        found = [l for l in lines if l.startswith(f"| {task} |") and f"| {metric} " in l]
        assert len(found) == 1, (task, metric, found)
        return [c.strip() for c in found[0].split("|")[1:-1]]

    # V&C: 1 of 2 molecules is valid and one fragment; paper 1.000
    vc = row("qm9_unconditional", "validity_completeness")
    assert vc[1:5] == ["default", "validity_completeness ↑", "0.5", "1"]
    assert "from validity_3d complete=true" in row("qm9_unconditional", "validity_completeness")[8]
    # no --variant: the default variant of a task that also has an mmff variant; 9 of 18 atoms stable
    assert row("qm9_unconditional", "atom_stability")[1:5] == ["default", "atom_stability ↑", "0.5", "0.897"]
    # validity_loose from the correct_loose run (2 of 4 valid), paper 0.87
    loose = row("molopt_qed", "validity_loose")
    assert loose[1:5] == ["smiles", "validity_loose ↑", "0.5", "0.87"] and "from correct_loose" in loose[8]
    # validity_strict: the explicit --report-as result (3 of 4) wins over the correct_strict run's own
    assert row("molopt_qed", "validity_strict")[1:5] == ["smiles", "validity_strict ↑", "0.75", "0.77"]
    assert run(capsys, "report", str(res), "--all-paper-rows")[0] == 0
    assert "no metric of this package computes QM9 V&U " in (res / "report.md").read_text()
