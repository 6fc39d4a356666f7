"""Train a MolStrucTok VQ-VAE on conformers; the checkpoint loads in :class:`MolStrucTok`.

Loss per atom: MSE on the normalized (log d, theta/pi, |phi|/pi) from the three regression heads,
cross-entropy on the torsion sign from the sign head, plus ``commitment_cost`` times the encoder's
commitment MSE; the codebook itself follows an exponential moving average (no gradient).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from biomatrix_plugin.mol3d.errors import Mol3DError
from biomatrix_plugin.mol3d.geometry import normalize
from biomatrix_plugin.mol3d.model import MolStrucTokVQVAE, VQVAEConfig, save_vqvae
from biomatrix_plugin.mol3d.tokenizer import DEFAULT_MAX_ATOMS, batch_descriptors, prepare_mol


@dataclass
class TrainConfig:
    steps: int = 2000
    batch_size: int = 1024  # atoms per step
    lr: float = 1e-3
    seed: int = 0
    model: VQVAEConfig = field(default_factory=VQVAEConfig)  # architecture, codebook, EMA, commitment


def atom_descriptors(mols: Sequence, max_atoms: int = DEFAULT_MAX_ATOMS) -> tuple[torch.Tensor, list[str]]:
    """Normalized descriptors of every atom of every usable molecule, and the rejection messages."""
    prepared, rejected = [], []
    for i, mol in enumerate(mols):
        try:
            prepared.append(prepare_mol(mol, i, max_atoms))
        except Mol3DError as exc:
            rejected.append(str(exc))
    if not prepared:
        raise Mol3DError(f"no usable conformers among {len(mols)} molecules; first reason: "
                         f"{rejected[0] if rejected else 'none given'}")
    desc, _, _ = batch_descriptors(prepared)
    finite = np.isfinite(desc).all(1)
    return normalize(desc[finite]), rejected


def train_vqvae(x: torch.Tensor, cfg: TrainConfig, progress: bool = True) -> tuple[MolStrucTokVQVAE, list[dict]]:
    from tqdm import tqdm

    torch.manual_seed(cfg.seed)
    model = MolStrucTokVQVAE(cfg.model)
    gen = torch.Generator().manual_seed(cfg.seed)
    target_mu = x[:, :3]
    target_sign = (x[:, 3].round().long() + 1).clamp(0, 2)
    model.train()
    with torch.no_grad():  # start the codebook on encoder outputs so no entry begins dead
        pick = torch.randint(len(x), (cfg.model.n_codes,), generator=gen)
        z0 = model.encoder(x[pick] if len(pick) > 1 else x[pick].repeat(2, 1))[: cfg.model.n_codes]
        model.quantizer.embedding.weight.data.copy_(z0 + 1e-3 * torch.randn(z0.shape, generator=gen))
        model.quantizer.ema_cluster_sum.copy_(model.quantizer.embedding.weight.data)
        model.quantizer.ema_cluster_size.fill_(1.0)
    opt = torch.optim.Adam([p for n, p in model.named_parameters() if not n.startswith("quantizer.")],
                           lr=cfg.lr)
    history: list[dict] = []
    bs = max(2, min(cfg.batch_size, len(x)))
    for step in tqdm(range(cfg.steps), desc="train", disable=not progress):
        idx = torch.randint(len(x), (bs,), generator=gen)
        codes, mu, sign_logits, commitment = model(x[idx])
        rec = F.mse_loss(mu, target_mu[idx])
        sign = F.cross_entropy(sign_logits, target_sign[idx])
        loss = rec + sign + cfg.model.commitment_cost * commitment
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % max(1, cfg.steps // 50) == 0 or step == cfg.steps - 1:
            used = torch.bincount(codes, minlength=cfg.model.n_codes).float() / len(codes)
            perplexity = math.exp(-(used * (used + 1e-10).log()).sum().item())
            history.append({"step": step, "loss": loss.item(), "recon_mse": rec.item(), "sign_ce": sign.item(),
                            "commitment": commitment.item(), "perplexity": perplexity})
    model.eval()
    return model, history


def plot_history(history: list[dict], path: str | Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(9, 3.2))
    steps = [h["step"] for h in history]
    for key in ("loss", "recon_mse", "sign_ce"):
        ax[0].plot(steps, [h[key] for h in history], label=key)
    ax[0].set_yscale("log")
    ax[0].set_xlabel("step")
    ax[0].legend()
    ax[1].plot(steps, [h["perplexity"] for h in history])
    ax[1].set_xlabel("step")
    ax[1].set_ylabel("codebook perplexity")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def train_from_mols(mols: Sequence, out: str | Path, cfg: TrainConfig, progress: bool = True) -> dict:
    """Train on ``mols`` and write ``out`` (checkpoint), ``out.json`` (report) and ``out.png`` (curves)."""
    x, rejected = atom_descriptors(mols)
    model, history = train_vqvae(x, cfg, progress)
    out = Path(out)
    save_vqvae(model, out)
    report = {"config": asdict(cfg), "molecules": len(mols), "rejected": len(rejected),
              "rejections": rejected[:20], "atoms": len(x), "final": history[-1] if history else None,
              "history": history}
    Path(str(out) + ".json").write_text(json.dumps(report, indent=2) + "\n")
    if history:
        plot_history(history, str(out) + ".png")
    return report
