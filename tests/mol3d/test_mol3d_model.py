"""The released checkpoint loads (weights_only) into our modules; save/load keeps every tensor."""

from __future__ import annotations

import torch

from biomatrix_plugin.mol3d.model import UNUSED_TRUNK_PREFIXES, config_from_state_dict, load_vqvae, save_vqvae
from mol3d_shared import checkpoint


def test_released_checkpoint_loads_into_native_modules():
    sd = torch.load(checkpoint(), map_location="cpu", weights_only=True)
    model = load_vqvae(checkpoint())
    ours = model.state_dict()
    used = {k for k in sd if not k.startswith(UNUSED_TRUNK_PREFIXES)}
    assert used == set(ours)
    assert all(torch.equal(sd[k], ours[k]) for k in used)
    cfg = config_from_state_dict(sd)
    assert (cfg.n_codes, cfg.latent_dim, cfg.hidden_dim, cfg.decoder_layers) == (512, 64, 64, 3)
    assert not model.training


def test_save_and_reload(tmp_path):
    model = load_vqvae(checkpoint())
    save_vqvae(model, tmp_path / "copy.bin")
    again = load_vqvae(tmp_path / "copy.bin")
    x = torch.rand(50, 4)
    assert torch.equal(model.encode(x), again.encode(x))
