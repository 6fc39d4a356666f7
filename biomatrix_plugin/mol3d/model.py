"""The MolStrucTok VQ-VAE: per-atom MLP encoder, 512-entry EMA codebook, branch-decoupled decoder.

Parameter names follow the released checkpoint (``molstructok_vqvae.bin``) so that its state dict loads
into these modules: ``encoder.{0,1,3,4,6}`` (Linear/BatchNorm/ReLU stack), ``quantizer.embedding`` plus the
EMA buffers, and ``multi_head_decoder.{gen_len,gen_ang,gen_tor,sign}_branch``. The released file also holds
a single-trunk decoder (``decoder.*``, ``mu.*``, ``sign_head.*``) that its decode path never uses; the
loader drops those keys and says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

N_DESCRIPTORS = 4  # d, theta, |phi|, sign(phi)
N_SIGN_CLASSES = 3  # sign(phi) + 1 in {0, 1, 2}
UNUSED_TRUNK_PREFIXES = ("decoder.", "mu.", "sign_head.")


@dataclass(frozen=True)
class VQVAEConfig:
    hidden_dim: int = 64
    latent_dim: int = 64
    n_codes: int = 512
    decoder_hidden_dim: int = 64
    decoder_layers: int = 3
    ema_decay: float = 0.99
    ema_epsilon: float = 1e-5
    commitment_cost: float = 0.25


def _mlp_stack(in_dim: int, hidden: int, out_dim: int, n_layers: int) -> nn.Sequential:
    """Linear-BN-ReLU repeated ``n_layers - 1`` times, then a Linear (indices match the checkpoint)."""
    layers: list[nn.Module] = []
    dim = in_dim
    for _ in range(n_layers - 1):
        layers += [nn.Linear(dim, hidden), nn.BatchNorm1d(hidden), nn.ReLU()]
        dim = hidden
    layers.append(nn.Linear(dim, out_dim))
    return nn.Sequential(*layers)


class EMACodebook(nn.Module):
    """Nearest-neighbour quantizer whose entries follow an exponential moving average of their members."""

    def __init__(self, n_codes: int, dim: int, decay: float, epsilon: float):
        super().__init__()
        self.n_codes = n_codes
        self.decay = decay
        self.epsilon = epsilon
        self.embedding = nn.Embedding(n_codes, dim)
        self.embedding.weight.data.uniform_(-1 / n_codes, 1 / n_codes)
        self.register_buffer("ema_cluster_size", torch.zeros(n_codes))
        self.register_buffer("ema_cluster_sum", torch.zeros(n_codes, dim))

    def nearest(self, z: torch.Tensor, chunk: int = 512) -> torch.Tensor:
        # Same expansion of the squared distance as the released model, |z|^2 + |w|^2 - 2 z.w, so ties
        # break identically: addmm adds -2 (z @ w.T) to (|z|^2 + |w|^2) in one pass, and scaling by -2 is
        # exact, so every distance is bitwise the one the three-step expression gives. Rows go in chunks
        # whose distance block stays in cache (a row's distances do not depend on the other rows).
        w = self.embedding.weight
        ww = (w * w).sum(1)
        wt = w.t()
        if len(z) <= chunk:
            return torch.addmm((z * z).sum(1, keepdim=True) + ww, z, wt, alpha=-2).argmin(1)
        out = torch.empty(len(z), dtype=torch.long)
        for s in range(0, len(z), chunk):
            zc = z[s:s + chunk]
            out[s:s + chunk] = torch.addmm((zc * zc).sum(1, keepdim=True) + ww, zc, wt, alpha=-2).argmin(1)
        return out

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Returns (codes, straight-through quantized z, commitment MSE)."""
        codes = self.nearest(z)
        quantized = self.embedding.weight[codes]
        commitment = F.mse_loss(quantized.detach(), z)
        if self.training:
            with torch.no_grad():
                onehot = F.one_hot(codes, self.n_codes).to(z.dtype)
                self.ema_cluster_size.mul_(self.decay).add_(onehot.sum(0), alpha=1 - self.decay)
                self.ema_cluster_sum.mul_(self.decay).add_(onehot.t() @ z, alpha=1 - self.decay)
                n = self.ema_cluster_size.sum()
                size = (self.ema_cluster_size + self.epsilon) / (n + self.n_codes * self.epsilon) * n
                self.embedding.weight.data.copy_(self.ema_cluster_sum / size.unsqueeze(1))
        quantized = z + (quantized - z).detach()
        return codes, quantized, commitment


class BranchDecoder(nn.Module):
    """One head per target: length, bond angle, |torsion| (regression) and torsion sign (3 classes)."""

    def __init__(self, latent_dim: int, hidden: int, n_layers: int):
        super().__init__()
        self.gen_len_branch = _mlp_stack(latent_dim, hidden, 1, n_layers)
        self.gen_ang_branch = _mlp_stack(latent_dim, hidden, 1, n_layers)
        self.gen_tor_branch = _mlp_stack(latent_dim, hidden, 1, n_layers)
        self.sign_branch = _mlp_stack(latent_dim, hidden, N_SIGN_CLASSES, n_layers)

    def forward(self, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu = torch.cat([self.gen_len_branch(q), self.gen_ang_branch(q), self.gen_tor_branch(q)], dim=1)
        return mu, self.sign_branch(q)


class MolStrucTokVQVAE(nn.Module):
    def __init__(self, config: VQVAEConfig = VQVAEConfig()):
        super().__init__()
        self.config = config
        h = config.hidden_dim
        self.encoder = _mlp_stack(N_DESCRIPTORS, h, config.latent_dim, 3)
        self.quantizer = EMACodebook(config.n_codes, config.latent_dim, config.ema_decay, config.ema_epsilon)
        self.multi_head_decoder = BranchDecoder(config.latent_dim, config.decoder_hidden_dim, config.decoder_layers)

    def forward(self, x: torch.Tensor):
        """x: (atoms, 4) normalized descriptors -> (codes, mu (atoms, 3), sign logits (atoms, 3), commitment)."""
        codes, q, commitment = self.quantizer(self.encoder(x))
        mu, sign_logits = self.multi_head_decoder(q)
        return codes, mu, sign_logits, commitment

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.quantizer.nearest(self.encoder(x))

    @torch.no_grad()
    def decode_codes(self, codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.multi_head_decoder(self.quantizer.embedding(codes))


def config_from_state_dict(sd: dict[str, torch.Tensor]) -> VQVAEConfig:
    """Read the architecture off tensor shapes, so a checkpoint needs no side file."""
    try:
        hidden = sd["encoder.0.weight"].shape[0]
        n_codes, latent = sd["quantizer.embedding.weight"].shape
        dec_hidden = sd["multi_head_decoder.gen_len_branch.0.weight"].shape[0]
    except KeyError as exc:
        raise ValueError(f"not a MolStrucTok checkpoint: missing tensor {exc}") from exc
    idx = [int(k.split(".")[2]) for k in sd if k.startswith("multi_head_decoder.gen_len_branch.")]
    return VQVAEConfig(hidden_dim=hidden, latent_dim=latent, n_codes=n_codes,
                       decoder_hidden_dim=dec_hidden, decoder_layers=max(idx) // 3 + 1)


def load_vqvae(path: str | Path) -> MolStrucTokVQVAE:
    """Load a MolStrucTok checkpoint (released or trained here) safely, in eval mode on CPU."""
    import pickle

    from biomatrix_plugin.mol3d.checkpoint import require_checkpoint
    from biomatrix_plugin.mol3d.errors import CheckpointError

    path = require_checkpoint(path)
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as exc:  # truncated / not a checkpoint
        raise CheckpointError(f"MolStrucTok checkpoint {path}: cannot be read ({str(exc).splitlines()[0]})") from None
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict):
        raise CheckpointError(f"MolStrucTok checkpoint {path}: not a state dict ({type(sd).__name__})")
    sd = {k: v for k, v in sd.items() if not k.startswith(UNUSED_TRUNK_PREFIXES)}
    try:
        model = MolStrucTokVQVAE(config_from_state_dict(sd))
        model.load_state_dict(sd, strict=True)
    except (ValueError, RuntimeError) as exc:  # missing/unexpected keys or shapes: another model's file
        raise CheckpointError(f"MolStrucTok checkpoint {path}: not a MolStrucTok VQ-VAE "
                              f"({str(exc).splitlines()[0]})") from None
    model.eval()
    return model


def save_vqvae(model: MolStrucTokVQVAE, path: str | Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, path)
