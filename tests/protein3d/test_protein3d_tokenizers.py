import json
import sys

import h5py
import numpy as np
import pytest

from biomatrix_plugin.cli import main as biomatrix_main
from biomatrix_plugin.protein3d.backbone import extract_chains
from biomatrix_plugin.protein3d.gcp_vqvae import GCPVQVAEUnavailable, prepare_input
from biomatrix_plugin.protein3d.geometry import BOND_C_O
from biomatrix_plugin.protein3d.structure_io import write_backbone
from biomatrix_plugin.protein3d.tokenizer import (
    EncodeRequest,
    StructureTokenizerError,
    get_structure_tokenizer,
)
from biomatrix_plugin.protein3d.vq_csv import VQCsvError, VQRecord, read_vq_csv, write_vq_csv
from fake_gcp_checkout import make_fake_gcp
from protein3d_builders import chain_atoms, helix, strand, write

HEADER = "pid,indices,protein_sequence\n"


# ------------------------------------------------------------------ vq_indices.csv

def test_vq_csv_round_trip(tmp_path):
    records = [VQRecord("1abc_chain_id_A", [4012, 153, 0], "MKX"), VQRecord("x", [4095], "U")]
    path = tmp_path / "vq_indices.csv"
    assert write_vq_csv(path, records) == 2
    assert path.read_text().splitlines() == [
        "pid,indices,protein_sequence", "1abc_chain_id_A,4012 153 0,MKX", "x,4095,U"]
    back, rejected = read_vq_csv(path)
    assert back == records and rejected == []


def test_vq_csv_rejects_each_bad_row_with_reason(tmp_path):
    path = tmp_path / "vq_indices.csv"
    path.write_text(HEADER + "\n".join([
        "ok,1 2 3,MKT",
        "short,1 2,MKT",
        "range,1 2 4096,MKT",
        "neg,1 -1 3,MKT",
        "word,1 two 3,MKT",
        ",1 2 3,MKT",
        "noseq,1 2 3,",
        "nocodes,,MKT",
        "letters,1 2 3,MK1",
        "ok,4 5 6,AAA",
        "extra,1,M,surplus",
    ]) + "\n")
    records, rejected = read_vq_csv(path)
    assert [r.pid for r in records] == ["ok"]
    reasons = {(r["row"], r["pid"]): r["reason"] for r in rejected}
    assert reasons == {
        (2, "short"): "2 indices but the sequence has 3 residues",
        (3, "range"): "index 4096 at position 2 outside 0-4095",
        (4, "neg"): "index -1 at position 1 outside 0-4095",
        (5, "word"): "index 'two' at position 1 is not an integer",
        (6, ""): "empty pid",
        (7, "noseq"): "empty protein_sequence",
        (8, "nocodes"): "empty indices",
        (9, "letters"): "protein_sequence has characters outside A-Z: '1'",
        (10, "ok"): "duplicate pid (first at row 1)",
        (11, "extra"): "more fields than columns",
    }
    assert len(records) + len(rejected) == 11  # nothing lost


def test_vq_csv_file_level_errors(tmp_path):
    with pytest.raises(VQCsvError, match="nope.csv: cannot open"):
        read_vq_csv(tmp_path / "nope.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("pid,codes\nx,1\n")
    with pytest.raises(VQCsvError, match="missing column"):
        read_vq_csv(bad)


def test_check_codes_cli_counts(tmp_path, capsys):
    path = tmp_path / "vq.csv"
    path.write_text(HEADER + "a,1 2,MK\nb,1,MK\n")
    assert biomatrix_main(["protein", "check-codes", "--vq-csv", str(path)]) == 1
    err = capsys.readouterr().err
    assert "1 valid, 1 rejected" in err and "1 indices but the sequence has 2 residues" in err


# ------------------------------------------------------------------ precomputed backend

def test_precomputed_lookup_by_pid_and_sequence(tmp_path):
    path = tmp_path / "vq.csv"
    write_vq_csv(path, [VQRecord("p1", [5, 6, 7, 8], "MKXA"), VQRecord("p2", [1, 2, 3], "GGG")])
    tok = get_structure_tokenizer("precomputed", csv_paths=[path])
    bb4, bb3 = helix(4), helix(3)
    assert tok.encode(bb4, "MKUA", pid="p1") == [5, 6, 7, 8]  # U is X for the model
    assert tok.encode(bb3, "GGG", pid="unknown") == [1, 2, 3]  # found by sequence
    results = tok.encode_batch([
        EncodeRequest("p1", bb4, "MKTA"),
        EncodeRequest("p9", bb3, "AAA"),
        EncodeRequest("p2", bb4, "GGG"),
    ])
    assert "precomputed sequence differs" in results[0]
    assert "no precomputed codes" in results[1]
    assert "4 residues in the backbone but 3 letters" in results[2]
    with pytest.raises(StructureTokenizerError, match="cannot decode"):
        tok.decode([1, 2, 3])


# ------------------------------------------------------------------ GCP-VQVAE backend (our side)

def test_prepare_input_layout():
    bb = helix(6)
    prepared = prepare_input(bb, "MKUAZW")
    assert prepared.sequence == "MKXAXW"
    assert prepared.n_ca_c_o.shape == (6, 4, 3)
    np.testing.assert_array_equal(prepared.n_ca_c_o[:, :3], bb)
    np.testing.assert_allclose(np.linalg.norm(prepared.n_ca_c_o[:, 3] - bb[:, 2], axis=1), BOND_C_O)
    # the carbonyl O lies in the peptide plane CA(i), C(i), N(i+1)
    for i in range(5):
        ca, c, n_next, o = bb[i, 1], bb[i, 2], bb[i + 1, 0], prepared.n_ca_c_o[i, 3]
        normal = np.cross(ca - c, n_next - c)
        assert abs(np.dot(o - c, normal / np.linalg.norm(normal))) < 1e-9
    assert prepared.plddt.tolist() == [100.0] * 6


def test_gcp_unavailable_says_what_to_install(tmp_path):
    tok = get_structure_tokenizer("gcp_vqvae", repo_dir=str(tmp_path / "missing_repo"), model_dir=None)
    with pytest.raises(GCPVQVAEUnavailable) as info:
        tok.encode(helix(5), "MKTAY")
    message = str(info.value)
    assert "inference_encode.py is missing" in message
    assert "model_dir" in message and "git clone https://github.com/mahdip72/vq_encoder_decoder" in message
    assert "953892be5c34d2e015498c58aeab261fe75d9fca" in message
    assert "lacks module(s)" in message and "torch_geometric" in message
    with pytest.raises(GCPVQVAEUnavailable, match="unknown key"):
        get_structure_tokenizer("gcp_vqvae", repo=".")


@pytest.fixture
def fake_gcp(tmp_path):
    repo, model = make_fake_gcp(tmp_path / "ext", max_length=40)
    config = {"repo_dir": str(repo), "model_dir": str(model), "python": sys.executable,
              "required_modules": ["h5py", "yaml"], "batch_size": 3, "chunk_size": 2}
    return repo, model, config


def _expected_codes(bb, seq):
    prepared = prepare_input(bb, seq)
    ca = prepared.n_ca_c_o[:, 1]
    ca_ca = np.r_[np.linalg.norm(np.diff(ca, axis=0), axis=1), 0.0]
    return [int(round(d * 100)) % 4096 + "ACDEFGHIKLMNPQRSTVWYX".index(a) for a, d in zip(prepared.sequence, ca_ca)]


def test_gcp_encode_batches_maps_pids_and_rejects(fake_gcp, tmp_path):
    repo, model, config = fake_gcp
    tok = get_structure_tokenizer("gcp_vqvae", **config, work_dir=str(tmp_path / "runs"))
    h, s = helix(7), strand(5)
    requests = [
        EncodeRequest("1abc_chain_id_A", h, "MKTAYIA"),
        EncodeRequest("too_long", helix(41), "A" * 41),
        EncodeRequest("1abc_chain_id_B", s, "GSUGS"),
        EncodeRequest("has_w", helix(4), "AWAA"),  # the fake model marks W invalid, like -1 positions
        EncodeRequest("nan", np.full((3, 3, 3), np.nan), "AAA"),
        EncodeRequest("third", helix(3), "ACD"),
    ]
    results = tok.encode_batch(requests)
    assert results[0] == _expected_codes(h, "MKTAYIA")
    assert results[2] == _expected_codes(s, "GSXGS")
    assert results[5] == _expected_codes(helix(3), "ACD")
    assert "longer than the model's max_length 40" in results[1]
    assert "has_w" in results[3] and "3 indices but the sequence has 4 residues" in results[3]
    assert "nan: non-finite coordinates" in results[4]
    runs = [json.loads(l) for l in (model / "runs.log").read_text().splitlines()]
    # four runnable records in chunks of two; every run gets our batch size and CPU precision
    assert [r["n"] for r in runs] == [2, 2]
    assert {(r["batch_size"], r["mixed_precision"], r["max_length"]) for r in runs} == {(3, "no", 40)}
    # the kept scratch directory holds the HDF5 inputs exactly as prepared
    h5_files = sorted((tmp_path / "runs").glob("encode_*/inputs/*.h5"))
    assert len(h5_files) == 4
    with h5py.File(h5_files[0]) as f:
        assert f["seq"][()].decode() == "MKTAYIA"
        np.testing.assert_allclose(f["N_CA_C_O_coord"][:], prepare_input(h, "MKTAYIA").n_ca_c_o)
    # the user's checkout was not modified
    assert (repo / "configs" / "inference_encode_config.yaml").read_text() == "placeholder: true\n"


def test_gcp_decode_and_write_back(fake_gcp, tmp_path):
    _, model, config = fake_gcp
    tok = get_structure_tokenizer("gcp_vqvae", **config)
    codes = [[5, 4000, 17], [1, 2], [3]]
    backbones = tok.decode_batch(codes)
    assert [b.shape for b in backbones] == [(3, 3, 3), (2, 3, 3), (1, 3, 3)]
    np.testing.assert_allclose(backbones[0][:, 1, 1], [0.005, 4.0, 0.017])
    assert tok.decode([7, 8])[1, 2, 0] == pytest.approx(3.8 + 2.4)
    with pytest.raises(StructureTokenizerError, match="outside 0-4095"):
        tok.decode([1, 4096])
    path = write_backbone(tmp_path / "decoded.cif", backbones[0], "MKT")
    chain = extract_chains(path).chains[0]
    assert chain.sequence == "MKT"
    np.testing.assert_allclose(chain.backbone, backbones[0], atol=1e-3)


def test_encode_cli_with_precomputed_and_gcp(fake_gcp, tmp_path, capsys):
    _, _, config = fake_gcp
    structure = write(tmp_path / "prot.pdb", chain_atoms(helix(6), "MKTAYI", "A") + chain_atoms(strand(4), "GSGS", "B"))
    extracted = tmp_path / "chains.jsonl"
    assert biomatrix_main(["protein", "extract", "--structure", str(structure), "--output", str(extracted)]) == 0
    import yaml

    cfg = tmp_path / "gcp.yaml"
    cfg.write_text(yaml.safe_dump(config))
    codes_csv = tmp_path / "codes.csv"
    assert biomatrix_main(["protein", "encode", "--input", str(extracted), "--backend", "gcp_vqvae",
                           "--config", str(cfg), "--output", str(codes_csv)]) == 0
    records, rejected = read_vq_csv(codes_csv)
    assert [r.pid for r in records] == ["prot_chain_id_A", "prot_chain_id_B"] and not rejected
    chains = extract_chains(structure).chains
    assert records[0].codes == _expected_codes(chains[0].backbone, "MKTAYI")
    # the precomputed backend reads that CSV back; a chain missing from it is a counted reject
    partial = tmp_path / "partial.csv"
    write_vq_csv(partial, records[:1])
    out = tmp_path / "again.csv"
    assert biomatrix_main(["protein", "encode", "--input", str(extracted), "--vq-csv", str(partial),
                           "--output", str(out), "--rejects", str(tmp_path / "rej.jsonl")]) == 1
    assert [r.pid for r in read_vq_csv(out)[0]] == ["prot_chain_id_A"]
    rej = [json.loads(l) for l in (tmp_path / "rej.jsonl").read_text().splitlines()]
    assert rej[0]["pid"] == "prot_chain_id_B" and "no precomputed codes" in rej[0]["reason"]
    assert "1 written, 1 rejected" in capsys.readouterr().err
    # three-view rows from the codes
    rows_path = tmp_path / "rows.jsonl"
    assert biomatrix_main(["protein", "instances", "--vq-csv", str(codes_csv), "--output", str(rows_path)]) == 0
    rows = [json.loads(l) for l in rows_path.read_text().splitlines()]
    assert len(rows) == 6 and all(set(r) == {"text"} for r in rows)


def test_decode_cli_writes_structures(fake_gcp, tmp_path, capsys):
    import yaml

    _, _, config = fake_gcp
    cfg = tmp_path / "gcp.yaml"
    cfg.write_text(yaml.safe_dump(config))
    codes_csv = tmp_path / "codes.csv"
    codes_csv.write_text(HEADER + "gen1,10 20 30,MKT\ngen2,1 2,MK\nbad,1 99999,MK\n")
    out_dir = tmp_path / "decoded"
    code = biomatrix_main(["protein", "decode", "--vq-csv", str(codes_csv), "--config", str(cfg),
                           "--out-dir", str(out_dir), "--format", "cif"])
    assert code == 1  # one row rejected
    assert sorted(p.name for p in out_dir.iterdir()) == ["gen1.cif", "gen2.cif"]
    chain = extract_chains(out_dir / "gen1.cif").chains[0]
    assert chain.sequence == "MKT"
    np.testing.assert_allclose(chain.backbone[:, 1, 1], [0.01, 0.02, 0.03], atol=1e-6)
    err = capsys.readouterr().err
    assert "2 written, 1 rejected" in err and "outside 0-4095" in err
