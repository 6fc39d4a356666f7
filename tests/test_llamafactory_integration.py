"""The plugin inside LLaMA-Factory 0.9.5: registration in every process, formatting, packing, collator."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _python(code: str, **env) -> str:
    full_env = {**os.environ, **env}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full_env, check=True).stdout


def test_pth_hook_registers_in_a_fresh_interpreter():
    from biomatrix_plugin.llamafactory.hook import doctor

    report = doctor()
    assert report["pth_file"], "biomatrix_plugin_hook.pth is not installed: run `make install` (biomatrix install-hook)"
    assert report["ok"], report
    code = "import llamafactory.data.converter as c; print('biomatrix' in c.DATASET_CONVERTERS)"
    assert _python(code).strip() == "True"
    assert _python(code, BIOMATRIX_PLUGIN_DISABLE="1").strip() == "False"  # it is the hook, not an import


def test_hook_is_lazy_for_processes_that_never_import_llamafactory():
    code = ("import sys; print(sorted(m for m in ('torch', 'llamafactory', 'transformers', 'rdkit', 'biomatrix_plugin')"
            " if m in sys.modules), 'biomatrix_plugin_hook' in sys.modules)")
    assert _python(code).strip() == "[] True"
    assert _python(code, BIOMATRIX_PLUGIN_DISABLE="1").strip() == "[] False"  # off before anything is imported


def test_another_checkout_sharing_the_environment_runs_its_own_code(tmp_path):
    """The hook must not import the installed package at start-up, or a second clone sharing the venv
    (`python -m pytest` from it) would silently run the installed checkout's code."""
    other = tmp_path / "biomatrix_plugin"
    other.mkdir()
    (other / "__init__.py").write_text("WHO = 'the other checkout'\n")
    proc = subprocess.run([sys.executable, "-c", "import biomatrix_plugin as b; print(b.WHO)"],
                          capture_output=True, text=True, cwd=tmp_path, check=True)
    assert proc.stdout.strip() == "the other checkout"


def test_opting_out_of_the_packing_patch_keeps_doctor_green():
    code = ("import llamafactory.data.processor.pretrain as p; c = p.PretrainDatasetProcessor;"
            " print(c._biomatrix_patched, c._biomatrix_keeps_remainder, hasattr(c, '_biomatrix_stock_preprocess'))")
    assert _python(code).strip() == "True True True"
    assert _python(code, BIOMATRIX_PT_KEEP_REMAINDER="0").strip() == "True False False"


@pytest.mark.slow
def test_registration_reaches_torchrun_workers(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent("""
        import os, sys
        import llamafactory.data.converter as c
        import llamafactory.data.processor.pretrain as p
        rank = os.environ["RANK"]
        with open(os.path.join(sys.argv[1], f"rank{rank}.txt"), "w") as fh:
            patched = getattr(p.PretrainDatasetProcessor, '_biomatrix_patched', False)
            fh.write(f"{'biomatrix' in c.DATASET_CONVERTERS} {patched}")
    """))
    import socket

    with socket.socket() as sock:  # a free port, so parallel CI runs do not collide
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    torchrun = Path(sys.executable).parent / "torchrun"
    subprocess.run([str(torchrun), "--nproc_per_node", "2", "--master_addr", "127.0.0.1", "--master_port", str(port),
                    str(script), str(tmp_path)],
                   check=True, capture_output=True, timeout=300)
    assert sorted(p.read_text() for p in tmp_path.glob("rank*.txt")) == ["True True", "True True"]


def test_biomatrix_formatting_serializes_raw_entities():
    import llamafactory.data.converter as conv
    from llamafactory.data.parser import DatasetAttr
    from llamafactory.hparams import DataArguments

    attr = DatasetAttr(load_from="file", dataset_name="demo", formatting="biomatrix")
    converter = conv.get_dataset_converter("biomatrix", attr, DataArguments())
    row = {"instruction": "Translate {s|smiles} of {p|protein}", "input": "",
           "output": "{s|selfies_from_smiles} {{keep}}", "s": "CCO", "p": "MK", "id": "r1"}
    out = converter(row)
    assert out["_prompt"][0]["content"] == (
        "Translate <|mol_smi_start|>CCO<|mol_smi_end|> of <|prot_aa_start|><A M><A K><|prot_aa_end|>")
    assert out["_response"][0]["content"] == "<|mol_sfi_start|>[C][C][O]<|mol_sfi_end|> {{keep}}"
    with pytest.raises(ValueError, match=r"dataset 'demo', row id='r2': column 'p'.*invalid character"):
        converter({**row, "p": "MK7", "id": "r2"})
    with pytest.raises(ValueError, match="column 'missing' is missing"):
        converter({**row, "instruction": "{missing|smiles}"})
    attr.history = "history"
    turns = converter({**row, "history": [["Which is {p|protein}?", "It is {s|smiles}."]]})["_prompt"]
    assert turns[0]["content"] == "Which is <|prot_aa_start|><A M><A K><|prot_aa_end|>?"
    assert turns[1]["content"] == "It is <|mol_smi_start|>CCO<|mol_smi_end|>."


def _pt_processor(tokenizer, cutoff_len):
    import llamafactory.data.processor.pretrain as pre
    from llamafactory.hparams import DataArguments

    data_args = DataArguments(template="qwen3_nothink", cutoff_len=cutoff_len, packing=True)
    return pre.PretrainDatasetProcessor(template=None, tokenizer=tokenizer, processor=None, data_args=data_args)


def test_pt_packing_keeps_every_token(extended_tokenizer, tmp_path):
    from biomatrix_plugin.demo.data import build_demo_data

    build_demo_data(tmp_path, n_molecules=200)
    texts = [json.loads(l)["text"] for l in (tmp_path / "cpt_demo.jsonl").read_text().splitlines()]
    examples = {"_prompt": [[{"role": "user", "content": t}] for t in texts]}
    processor = _pt_processor(extended_tokenizer, cutoff_len=255)
    eos = extended_tokenizer.eos_token
    expected = [i for t in texts for i in extended_tokenizer(t + eos, add_special_tokens=False)["input_ids"]]

    patched = processor.preprocess_dataset(examples)
    assert [i for b in patched["input_ids"] for i in b] == expected  # nothing lost, order kept
    block = processor.data_args.cutoff_len  # DataArguments reserves one token when packing
    assert all(len(b) == block for b in patched["input_ids"][:-1])

    stock = type(processor)._biomatrix_stock_preprocess(processor, examples)
    dropped = len(expected) - sum(len(b) for b in stock["input_ids"])
    assert dropped == len(expected) % block and dropped > 0  # what 0.9.5 loses per map batch


def test_document_separators_stay_in_the_loss(extended_tokenizer):
    from transformers import DataCollatorForLanguageModeling

    tok = extended_tokenizer
    assert tok.pad_token_id != tok.eos_token_id
    collator = DataCollatorForLanguageModeling(tokenizer=tok, mlm=False)
    a = tok("first doc" + tok.eos_token + "second", add_special_tokens=False)["input_ids"]
    b = tok("short" + tok.eos_token, add_special_tokens=False)["input_ids"]
    batch = collator([{"input_ids": a}, {"input_ids": b}])
    labels = batch["labels"]
    eos_positions = (batch["input_ids"] == tok.eos_token_id) & (batch["attention_mask"] == 1)
    assert eos_positions.sum() == 2 and (labels[eos_positions] == tok.eos_token_id).all()
    assert (labels[batch["attention_mask"] == 0] == -100).all() and (batch["attention_mask"] == 0).sum() > 0


def test_sft_truncation_is_counted(extended_tokenizer):
    import llamafactory.data.processor.supervised as sup
    from llamafactory.data.template import get_template_and_fix_tokenizer
    from llamafactory.hparams import DataArguments

    from biomatrix_plugin.llamafactory.patches import sft_truncation_totals
    from biomatrix_plugin.modalities.serialization import wrap_protein

    data_args = DataArguments(template="qwen3_nothink", cutoff_len=64, neat_packing=True)
    template = get_template_and_fix_tokenizer(extended_tokenizer, data_args)
    processor = sup.PackedSupervisedDatasetProcessor(template=template, tokenizer=extended_tokenizer,
                                                     processor=None, data_args=data_args)
    rows = [("Length of " + wrap_protein("MK" * n) + "?", str(2 * n)) for n in (3, 5, 40)]
    rows.append(("Short?", wrap_protein("A" * 80)))  # the response itself is cut
    examples = {
        "_prompt": [[{"role": "user", "content": q}] for q, _ in rows],
        "_response": [[{"role": "assistant", "content": a}] for _, a in rows],
        "_system": [""] * 4, "_tools": [""] * 4, "_images": [None] * 4, "_videos": [None] * 4, "_audios": [None] * 4,
    }
    before = sft_truncation_totals()
    out = processor.preprocess_dataset(examples)
    counted = sft_truncation_totals() - before
    assert counted == {"prompt": 1, "response": 1}
    assert sum(len(x) for x in out["input_ids"]) > 0


def test_pth_line_is_harmless_when_the_package_is_gone(tmp_path):
    from biomatrix_plugin.llamafactory.hook import PTH_LINE, install_pth

    site = tmp_path / "site"
    site.mkdir()
    assert install_pth(site).read_text() == PTH_LINE
    # a bare interpreter (-S: no site-packages, so biomatrix_plugin is not importable) processing the line
    code = (f"import site; site.addsitedir({str(site)!r}); import sys;"
            " print('biomatrix_plugin' in sys.modules, 'biomatrix_plugin_hook' in sys.modules)")
    proc = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout.strip() == "False False" and proc.stderr == ""
    install_pth(site, remove=True)
    assert not (site / "biomatrix_plugin_hook.pth").exists()


def test_patched_processors_keep_datasets_cache_fingerprints(extended_tokenizer):
    """datasets fingerprints map functions; an unhashable patch would force a random hash, so every rank
    would redo preprocessing and no rerun would hit the cache."""
    import llamafactory.data.processor.pretrain as pre
    import llamafactory.data.processor.supervised as sup
    from datasets.fingerprint import Hasher
    from llamafactory.data.template import get_template_and_fix_tokenizer
    from llamafactory.hparams import DataArguments

    sft_args = DataArguments(template="qwen3_nothink", cutoff_len=64, neat_packing=True)
    template = get_template_and_fix_tokenizer(extended_tokenizer, sft_args)
    for make in (
        lambda: sup.PackedSupervisedDatasetProcessor(template=template, tokenizer=extended_tokenizer,
                                                     processor=None, data_args=sft_args),
        lambda: sup.SupervisedDatasetProcessor(template=template, tokenizer=extended_tokenizer,
                                               processor=None, data_args=sft_args),
        lambda: _pt_processor(extended_tokenizer, cutoff_len=128),
    ):
        first, second = make(), make()
        assert Hasher.hash(first.preprocess_dataset) == Hasher.hash(second.preprocess_dataset)
    assert pre.PretrainDatasetProcessor._biomatrix_patched and sup.SupervisedDatasetProcessor._biomatrix_patched
