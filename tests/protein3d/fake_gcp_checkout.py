"""Writes a stand-in for the vq_encoder_decoder checkout: scripts with the same names, config files and
file interfaces as the real ones (HDF5 in, vq_indices.csv out; CSV in, PDB files out), but with a
deterministic formula instead of the network, whose weights cannot exist here. Each run appends a JSON
line to <model_dir>/runs.log so tests can see batching."""

from pathlib import Path

ENCODE = r'''
import csv, datetime, glob, json, os
import h5py, numpy as np, yaml
with open("configs/inference_encode_config.yaml") as f:
    cfg = yaml.safe_load(f)
assert os.path.isfile(os.path.join(cfg["trained_model_dir"], cfg["checkpoint_path"]))
files = sorted(glob.glob(os.path.join(cfg["data_path"], "**", "*.h5"), recursive=True))
rows = []
for path in files:
    with h5py.File(path, "r") as h:
        seq = h["seq"][()].decode()
        xyz = h["N_CA_C_O_coord"][:]
        plddt = h["plddt_scores"][:]
    assert xyz.shape == (len(seq), 4, 3) and plddt.shape == (len(seq),) and np.isfinite(xyz).all()
    ca_ca = np.r_[np.linalg.norm(np.diff(xyz[:, 1], axis=0), axis=1), 0.0]
    codes = [int(round(d * 100)) % 4096 + "ACDEFGHIKLMNPQRSTVWYX".index(a) for a, d in zip(seq, ca_ca)]
    # like the real model, positions it cannot use get -1 and are dropped from the row
    codes = [-1 if a == "W" else c for a, c in zip(seq, codes)]
    rows.append([os.path.basename(path)[:-3], " ".join(str(c) for c in codes if c != -1), seq])
out = os.path.join(cfg["output_base_dir"], datetime.datetime.now().strftime("%Y-%m-%d__%H-%M-%S"))
os.makedirs(out, exist_ok=True)
with open(os.path.join(out, cfg["vq_indices_csv_filename"]), "w", newline="") as f:
    w = csv.writer(f); w.writerow(["pid", "indices", "protein_sequence"]); w.writerows(rows)
with open(os.path.join(cfg["trained_model_dir"], "runs.log"), "a") as f:
    f.write(json.dumps({"script": "encode", "n": len(files), "batch_size": cfg["batch_size"],
                        "mixed_precision": cfg["mixed_precision"], "max_length": cfg["max_length"]}) + "\n")
'''

DECODE = r'''
import csv, datetime, json, os
import yaml
with open("configs/inference_decode_config.yaml") as f:
    cfg = yaml.safe_load(f)
out = os.path.join(cfg["output_base_dir"], datetime.datetime.now().strftime("%Y-%m-%d__%H-%M-%S"), "pdb_files")
os.makedirs(out, exist_ok=True)
n = 0
with open(cfg["indices_csv_path"]) as f:
    for row in csv.DictReader(f):
        codes = [int(c) for c in row["indices"].split()]
        lines, serial = [], 1
        for i, code in enumerate(codes):
            # residue i sits 3.8 A along x; the code sets its height, so decoding is checkable
            for k, name in enumerate(("N", "CA", "C")):
                x, y, z = 3.8 * i + 1.2 * k, code / 1000.0, 0.0
                lines.append(f"ATOM  {serial:>5}  {name:<3} UNK A{i + 1:>4}    {x:8.3f}{y:8.3f}{z:8.3f}"
                             f"  1.00  0.00           {name[0]}")
                serial += 1
        with open(os.path.join(out, row["pid"] + ".pdb"), "w") as g:
            g.write("\n".join(lines) + "\nEND\n")
        n += 1
with open(os.path.join(cfg["trained_model_dir"], "runs.log"), "a") as f:
    f.write(json.dumps({"script": "decode", "n": n}) + "\n")
'''


def make_fake_gcp(root: Path, max_length: int = 64) -> tuple[Path, Path]:
    repo, model = root / "vq_encoder_decoder", root / "gcp_large"
    (repo / "configs").mkdir(parents=True)
    (repo / "inference_encode.py").write_text(ENCODE)
    (repo / "inference_decode.py").write_text(DECODE)
    for name in ("config_gcpnet_encoder.yaml", "inference_encode_config.yaml", "inference_decode_config.yaml"):
        (repo / "configs" / name).write_text("placeholder: true\n")
    (model / "checkpoints").mkdir(parents=True)
    (model / "config_vqvae.yaml").write_text(f"model:\n  max_length: {max_length}\n")
    (model / "config_gcpnet_encoder.yaml").write_text("top_k: 30\n")
    (model / "config_geometric_decoder.yaml").write_text("dim: 8\n")
    (model / "checkpoints" / "best_valid.pth").write_bytes(b"not a real checkpoint")
    return repo, model
