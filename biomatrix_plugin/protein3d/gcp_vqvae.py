"""GCP-VQVAE backend: runs the user's ``vq_encoder_decoder`` checkout (BioMatrix pins commit
953892be5c34d2e015498c58aeab261fe75d9fca) with its own scripts, in its own Python environment.

Why a subprocess around the repository's ``inference_encode.py`` / ``inference_decode.py`` rather than an
import: those scripts are exactly what produced BioMatrix's tokens (batching, bf16, multi-GPU through
accelerate), the model needs a dependency stack (torch-geometric, torch-scatter, graphein pinning
numpy 1.x) that should not live in the training environment, and the scripts read
``configs/*.yaml`` relative to the working directory. So each run gets a scratch directory that mirrors
the checkout through symlinks, with our own ``configs/inference_*_config.yaml``, and talks to the
model through files:

- encode input: one HDF5 file per chain, ``seq`` (bytes), ``N_CA_C_O_coord`` (L×4×3), ``plddt_scores``
  (L), the layout of the repository's ``data/pdb_to_h5.py``. The carbonyl O is not part of our L×3×3
  backbone; it is placed from ideal geometry (the model's features use N/CA/C; a non-finite O would
  mark the residue invalid).
- encode output / decode input: ``vq_indices.csv`` (see :mod:`biomatrix_plugin.protein3d.vq_csv`).
- decode output: one PDB per record (N/CA/C, residues UNK), read back with our parser.

Nothing here imports torch; the model's interpreter is ``python`` in the configuration.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from biomatrix_plugin.errors import ConfigError
from biomatrix_plugin.protein3d.tokenizer_base import (
    EncodeRequest,
    StructureTokenizer,
    StructureTokenizerError,
    check_backbone,
    check_codes,
    model_alphabet,
)

# What the repository's scripts import (module names, not package names).
REQUIRED_MODULES = (
    "torch", "torch_geometric", "torch_scatter", "torch_cluster", "graphein", "x_transformers",
    "vector_quantize_pytorch", "h5py", "box", "accelerate", "yaml", "pandas", "Bio",
)
MODEL_FILES = ("config_vqvae.yaml", "config_gcpnet_encoder.yaml", "config_geometric_decoder.yaml",
               "checkpoints/best_valid.pth")
REPO_FILES = ("inference_encode.py", "inference_decode.py", "configs/config_gcpnet_encoder.yaml")
MODEL_LETTERS = set("ACDEFGHIKLMNPQRSTVWYX")

SETUP_HELP = """\
GCP-VQVAE setup (see docs/protein3d.md):
  git clone https://github.com/mahdip72/vq_encoder_decoder && cd vq_encoder_decoder
  git checkout 953892be5c34d2e015498c58aeab261fe75d9fca
  python -m venv ~/gcp-venv && ~/gcp-venv/bin/pip install torch torch-geometric graphein x-transformers \\
      vector-quantize-pytorch ndlinear jaxtyping beartype python-box h5py biopython accelerate pandas pyyaml
  ~/gcp-venv/bin/pip install --no-build-isolation torch-scatter torch-cluster   # builds from source
  download the Large model directory (config_vqvae.yaml, config_gcpnet_encoder.yaml,
  config_geometric_decoder.yaml, checkpoints/best_valid.pth), e.g. Hugging Face Mahdip72/gcp-vqvae-large
then a YAML for --config:  repo_dir: <checkout>  model_dir: <model dir>  python: ~/gcp-venv/bin/python"""


class GCPVQVAEUnavailable(ConfigError, StructureTokenizerError):
    """The external model is not installed or not configured (a configuration error, exit 2); the message
    says what is wrong and how to get the model (:data:`SETUP_HELP`)."""


SEE_SETUP = "see `GCP-VQVAE setup` in docs/protein3d.md for how to get the checkout and the model"
PRECISIONS = ("auto", "no", "bf16", "fp16")


def _path_or_none(value):
    if value is None:
        return None
    if not isinstance(value, (str, os.PathLike)) or not str(value).strip():
        raise TypeError("a path")
    return Path(os.path.expanduser(str(value)))


def _positive_int(value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise TypeError("an integer >= 1")
    return value


def _positive_int_or_none(value):
    return None if value is None else _positive_int(value)


def _positive_seconds(value):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
        raise TypeError("a number of seconds > 0")
    return float(value)


def _text(value):
    if not isinstance(value, (str, os.PathLike)) or not str(value).strip():
        raise TypeError("a non-empty string")
    return os.path.expanduser(str(value))


def _precision(value):
    if value is False:  # YAML 1.1 reads an unquoted `no` as false
        return "no"
    if value not in PRECISIONS:
        raise TypeError(f"one of {', '.join(PRECISIONS)}")
    return value


def _module_names(value):
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or not all(isinstance(m, str) for m in value):
        raise TypeError("a list of module names")
    return tuple(value)


def _environment(value):
    if not isinstance(value, Mapping) or not all(isinstance(k, str) and isinstance(v, (str, int, float))
                                                 and not isinstance(v, bool) for k, v in value.items()):
        raise TypeError("a mapping of variable names to strings or numbers")
    return dict(value)


# Per key, the function that checks a configured value (raising TypeError with what it must be) and
# converts it; table-driven so that a wrong type is one error naming the key instead of a failure deep
# inside a subprocess run (chunk_size 0 would never start one, a string batch_size ends in the model).
_FIELD_CHECKS = {
    "repo_dir": _path_or_none, "model_dir": _path_or_none, "work_dir": _path_or_none, "python": _text,
    "batch_size": _positive_int, "chunk_size": _positive_int, "max_length": _positive_int_or_none,
    "mixed_precision": _precision, "timeout_s": _positive_seconds, "required_modules": _module_names,
    "extra_env": _environment,
}


@dataclass
class GCPVQVAEConfig:
    repo_dir: Path | None = None  # vq_encoder_decoder checkout
    model_dir: Path | None = None  # trained model directory (configs + checkpoints/best_valid.pth)
    python: str = sys.executable  # interpreter with the model's dependencies
    batch_size: int = 16  # the scripts' DataLoader batch size
    chunk_size: int = 20000  # records per subprocess run (the model loads once per run)
    max_length: int | None = None  # default: model.max_length from the model's config_vqvae.yaml
    mixed_precision: str = "auto"  # auto: bf16 on a GPU, no on CPU
    work_dir: Path | None = None  # keep scratch runs here (default: a temporary directory, removed)
    timeout_s: float | None = None
    required_modules: tuple[str, ...] = REQUIRED_MODULES
    extra_env: dict = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, config: Mapping, source: str = "gcp_vqvae configuration") -> "GCPVQVAEConfig":
        if not isinstance(config, Mapping):
            raise GCPVQVAEUnavailable(f"{source}: expected a mapping of keys ({', '.join(_FIELD_CHECKS)}), "
                                      f"got {type(config).__name__}; {SEE_SETUP}")
        unknown = sorted(str(k) for k in set(config) - set(_FIELD_CHECKS))
        if unknown:
            raise GCPVQVAEUnavailable(f"{source}: unknown key(s) {', '.join(unknown)}; "
                                      f"known: {', '.join(sorted(_FIELD_CHECKS))}")
        values = {}
        for key, value in config.items():
            try:
                values[key] = _FIELD_CHECKS[key](value)
            except TypeError as exc:
                raise GCPVQVAEUnavailable(f"{source}: {key} must be {exc}, got {value!r}") from None
        return cls(**values)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike) -> "GCPVQVAEConfig":
        """Read a configuration file: safe YAML only (no Python tags, no duplicated key), a mapping of the
        known keys; read through the project's one YAML reader (schema.load_yaml)."""
        from biomatrix_plugin.schema import SchemaError, load_yaml

        try:
            config = load_yaml(path)
        except SchemaError as exc:
            raise GCPVQVAEUnavailable(f"{exc}; the configuration is plain keys and values ({SEE_SETUP})") from None
        return cls.from_mapping({} if config is None else config, source=str(path))


@dataclass
class PreparedInput:
    """What goes into one HDF5 file (exposed for tests and for people preparing inputs elsewhere)."""

    sequence: str  # 20 letters + X
    n_ca_c_o: np.ndarray  # L×4×3
    plddt: np.ndarray  # L, 100 for experimental structures


def prepare_input(backbone: np.ndarray, sequence: str) -> PreparedInput:
    from biomatrix_plugin.protein3d.geometry import carbonyl_oxygens

    bb = np.asarray(backbone, dtype=np.float64)
    seq = model_alphabet(sequence)
    bad = sorted(set(seq) - MODEL_LETTERS)
    if bad:
        raise StructureTokenizerError(f"sequence has letters GCP-VQVAE cannot read: {''.join(bad)}")
    coords = np.concatenate([bb, carbonyl_oxygens(bb)[:, None, :]], axis=1)
    return PreparedInput(seq, coords, np.full(len(seq), 100.0))


def write_h5(path: Path, prepared: PreparedInput) -> None:
    try:
        import h5py
    except ImportError as exc:  # only this backend needs it
        raise GCPVQVAEUnavailable("the gcp_vqvae backend writes HDF5 inputs: pip install h5py") from exc
    with h5py.File(path, "w") as handle:
        handle.create_dataset("seq", data=prepared.sequence.encode())
        handle.create_dataset("N_CA_C_O_coord", data=prepared.n_ca_c_o)
        handle.create_dataset("plddt_scores", data=prepared.plddt)


class GCPVQVAETokenizer(StructureTokenizer):
    name = "gcp_vqvae"

    @classmethod
    def from_config(cls, **config) -> "GCPVQVAETokenizer":
        return cls(GCPVQVAEConfig.from_mapping(config))

    def __init__(self, config: GCPVQVAEConfig):
        self.config = config
        self._checked: dict | None = None
        self.runs: list[Path] = []  # scratch directories used (kept only with work_dir)

    # ------------------------------------------------------------ installation

    def check(self) -> dict:
        """Verify checkout, model directory and interpreter; raises GCPVQVAEUnavailable listing problems.
        Returns {"cuda": bool, "max_length": int}."""
        if self._checked is not None:
            return self._checked
        cfg = self.config
        problems: list[str] = []
        if cfg.repo_dir is None:
            problems.append("repo_dir (the vq_encoder_decoder checkout) is not configured")
        else:
            problems += [f"{cfg.repo_dir / f} is missing" for f in REPO_FILES if not (cfg.repo_dir / f).is_file()]
        if cfg.model_dir is None:
            problems.append("model_dir (the GCP-VQVAE Large model directory) is not configured")
        else:
            problems += [f"{cfg.model_dir / f} is missing" for f in MODEL_FILES if not (cfg.model_dir / f).is_file()]
        cuda = False
        if not shutil.which(cfg.python) and not Path(cfg.python).is_file():
            problems.append(f"python interpreter {cfg.python!r} not found")
        else:
            probe = (
                "import importlib.util, json, sys\n"
                f"mods = {list(cfg.required_modules)!r}\n"
                "missing = [m for m in mods if importlib.util.find_spec(m) is None]\n"
                "cuda = False\n"
                "if 'torch' in mods and 'torch' not in missing:\n"
                "    import torch; cuda = torch.cuda.is_available()\n"
                "print(json.dumps({'missing': missing, 'cuda': cuda}))\n"
            )
            run = subprocess.run([cfg.python, "-c", probe], capture_output=True, text=True, timeout=300)
            if run.returncode != 0:
                problems.append(f"{cfg.python} failed to start: {run.stderr.strip()[-500:]}")
            else:
                info = json.loads(run.stdout.strip().splitlines()[-1])
                cuda = bool(info["cuda"])
                if info["missing"]:
                    problems.append(f"{cfg.python} lacks module(s): {', '.join(info['missing'])}")
        if problems:
            raise GCPVQVAEUnavailable("GCP-VQVAE is not available:\n  - " + "\n  - ".join(problems) + "\n" + SETUP_HELP)
        self._checked = {"cuda": cuda, "max_length": cfg.max_length or self._model_max_length()}
        return self._checked

    def _model_max_length(self) -> int:
        from biomatrix_plugin.schema import SchemaError, load_yaml

        path = self.config.model_dir / "config_vqvae.yaml"
        try:
            model_cfg = load_yaml(path) or {}
            return int(model_cfg["model"]["max_length"])
        except (KeyError, TypeError, ValueError, SchemaError) as exc:
            raise GCPVQVAEUnavailable(
                f"{path}: no model.max_length; set max_length in the configuration"
            ) from exc

    # ------------------------------------------------------------ runs

    def _scratch(self, kind: str) -> Path:
        cfg = self.config
        base = Path(cfg.work_dir) if cfg.work_dir else Path(tempfile.mkdtemp(prefix=f"gcp_vqvae_{kind}_"))
        run_dir = base / f"{kind}_{datetime.datetime.now().strftime('%Y%m%d_%H%M%S_%f')}" if cfg.work_dir else base
        run_dir.mkdir(parents=True, exist_ok=True)
        # Mirror the checkout so its scripts find their modules and configs/, with our inference config.
        for entry in cfg.repo_dir.iterdir():
            if entry.name in {"configs", ".git"}:
                continue
            (run_dir / entry.name).symlink_to(entry.resolve())
        (run_dir / "configs").mkdir()
        for entry in (cfg.repo_dir / "configs").iterdir():
            (run_dir / "configs" / entry.name).symlink_to(entry.resolve())
        self.runs.append(run_dir)
        return run_dir

    def _inference_config(self, data_key: str, data_value: str, output_dir: Path) -> dict:
        checked = self.check()
        precision = self.config.mixed_precision
        if precision == "auto":
            precision = "bf16" if checked["cuda"] else "no"
        return {
            "trained_model_dir": str(self.config.model_dir.resolve()),
            "checkpoint_path": "checkpoints/best_valid.pth",
            "config_vqvae": "config_vqvae.yaml",
            "config_encoder": "config_gcpnet_encoder.yaml",
            "config_decoder": "config_geometric_decoder.yaml",
            data_key: data_value,
            "output_base_dir": str(output_dir),
            "batch_size": int(self.config.batch_size),
            "shuffle": False,
            "num_workers": 0,
            "max_task_samples": 10**12,
            "max_length": int(checked["max_length"]),
            "vq_indices_csv_filename": "vq_indices.csv",
            "mixed_precision": precision,
            "tqdm_progress_bar": True,
            "compile_model": {"enabled": False, "mode": None, "backend": "inductor", "compile_encoder": False},
        }

    def _run_script(self, run_dir: Path, script: str, config_name: str, config: dict) -> None:
        import yaml

        (run_dir / "configs" / config_name).unlink(missing_ok=True)
        with open(run_dir / "configs" / config_name, "w") as handle:
            yaml.safe_dump(config, handle, sort_keys=False)
        env = dict(os.environ, PYTHONPATH=str(run_dir), **{k: str(v) for k, v in self.config.extra_env.items()})
        proc = subprocess.run([self.config.python, script], cwd=run_dir, env=env, capture_output=True,
                              text=True, timeout=self.config.timeout_s)
        (run_dir / f"{script}.log").write_text(proc.stdout + "\n" + proc.stderr)
        if proc.returncode != 0:
            raise StructureTokenizerError(
                f"GCP-VQVAE {script} failed (exit {proc.returncode}); log in {run_dir / (script + '.log')}:\n"
                + proc.stderr.strip()[-2000:]
            )

    def _cleanup(self, run_dir: Path) -> None:
        if not self.config.work_dir:
            shutil.rmtree(run_dir, ignore_errors=True)

    # ------------------------------------------------------------ encode

    def encode_batch(self, requests: Sequence[EncodeRequest]) -> list[list[int] | str]:
        from biomatrix_plugin.protein3d.vq_csv import read_vq_csv

        checked = self.check()
        results: list[list[int] | str | None] = [None] * len(requests)
        runnable: list[int] = []
        for i, req in enumerate(requests):
            reason = check_backbone(req.backbone, req.sequence, req.pid)
            if reason is None and len(req.sequence) > checked["max_length"]:
                reason = (f"{req.pid}: {len(req.sequence)} residues, longer than the model's max_length "
                          f"{checked['max_length']}")
            if reason is None and set(model_alphabet(req.sequence)) - MODEL_LETTERS:
                reason = f"{req.pid}: sequence has letters outside A-Z"
            if reason:
                results[i] = reason
            else:
                runnable.append(i)
        for start in range(0, len(runnable), self.config.chunk_size):
            chunk = runnable[start : start + self.config.chunk_size]
            run_dir = self._scratch("encode")
            try:
                h5_dir = run_dir / "inputs"
                h5_dir.mkdir()
                # File names are the model's pids: use safe positional names and map back.
                for i in chunk:
                    write_h5(h5_dir / f"r{i:09d}.h5", prepare_input(requests[i].backbone, requests[i].sequence))
                out_dir = run_dir / "outputs"
                self._run_script(run_dir, "inference_encode.py", "inference_encode_config.yaml",
                                 self._inference_config("data_path", str(h5_dir), out_dir))
                csv_files = sorted(out_dir.glob("*/vq_indices.csv"))
                if not csv_files:
                    raise StructureTokenizerError(f"GCP-VQVAE wrote no vq_indices.csv under {out_dir}")
                records, rejected = read_vq_csv(csv_files[-1])
                by_name = {r.pid: r for r in records}
                bad_rows = {str(r.get("pid")): r["reason"] for r in rejected}
                for i in chunk:
                    name = f"r{i:09d}"
                    req = requests[i]
                    if name in by_name:
                        results[i] = list(by_name[name].codes)
                    elif name in bad_rows:
                        results[i] = (f"{req.pid}: the model's output row was invalid ({bad_rows[name]}); "
                                      "residues it marked invalid get no code, so codes and residues no longer align")
                    else:
                        results[i] = f"{req.pid}: the model produced no row"
            finally:
                self._cleanup(run_dir)
        return [r if r is not None else "internal: not processed" for r in results]

    # ------------------------------------------------------------ decode

    def decode_batch(self, codes: Sequence[Sequence[int]]) -> list[np.ndarray]:
        from biomatrix_plugin.protein3d.backbone import extract_chains
        from biomatrix_plugin.protein3d.vq_csv import VQRecord, write_vq_csv

        checked = self.check()
        for i, c in enumerate(codes):
            reason = check_codes(c, f"codes[{i}]")
            if reason is None and len(c) > checked["max_length"]:
                reason = f"codes[{i}]: {len(c)} codes, longer than the model's max_length {checked['max_length']}"
            if reason:
                raise StructureTokenizerError(reason)
        out: list[np.ndarray] = []
        for start in range(0, len(codes), self.config.chunk_size):
            chunk = list(range(start, min(start + self.config.chunk_size, len(codes))))
            run_dir = self._scratch("decode")
            try:
                csv_path = run_dir / "inputs" / "vq_indices.csv"
                write_vq_csv(csv_path, [VQRecord(f"r{i:09d}", list(codes[i]), "X" * len(codes[i])) for i in chunk])
                out_dir = run_dir / "outputs"
                self._run_script(run_dir, "inference_decode.py", "inference_decode_config.yaml",
                                 self._inference_config("indices_csv_path", str(csv_path), out_dir))
                for i in chunk:
                    found = sorted(out_dir.glob(f"*/pdb_files/r{i:09d}.pdb"))
                    if not found:
                        raise StructureTokenizerError(f"GCP-VQVAE wrote no structure for codes[{i}] under {out_dir}")
                    chains = extract_chains(found[-1]).chains
                    if len(chains) != 1 or len(chains[0].sequence) != len(codes[i]):
                        got = len(chains[0].sequence) if chains else 0
                        raise StructureTokenizerError(
                            f"codes[{i}]: decoded structure has {got} residues for {len(codes[i])} codes")
                    out.append(chains[0].backbone)
            finally:
                self._cleanup(run_dir)
        return out
