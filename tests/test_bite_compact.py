"""Compaction removes a unit only when *both* its outgoing parts are zero.

Per-weight zero-out can leave a unit whose consumer column (next layer's ``weight_ih`` or the
head/decoder) is zero while its ``weight_hh`` column is not, or the other way round. Such a unit
still influences the outputs, so it must stay, and the compacted model must equal the original;
only both columns zero remove it. Each case also checks that removing the unit *would* change
the outputs (so a compaction that dropped it could not pass).
"""

from __future__ import annotations

import pytest
import torch

from lstmgen.checkpoint import Checkpoint, ModelConfig, build_module
from lstmgen.sparsity import compact, iss_stats, removable_units

pytestmark = [pytest.mark.unit, pytest.mark.usefixtures("torch_one_thread")]

CONFIGS = {
    "classifier": ModelConfig(kind="classifier", n_in=3, hidden=(5, 4), n_out=3),
    "lm": ModelConfig(kind="lm", n_in=3, hidden=(4, 5), n_out=6, vocab=6),
}


def _ckpt(cfg: ModelConfig, seed: int) -> Checkpoint:
    torch.manual_seed(seed)
    module = build_module(cfg)
    return Checkpoint(cfg, {k: v.detach().clone() for k, v in module.state_dict().items()}, {})


def _consumer(cfg: ModelConfig, layer: int) -> str:
    if layer + 1 < len(cfg.hidden):
        return f"lstm.weight_ih_l{layer + 1}"
    return "head.weight" if cfg.kind == "classifier" else "decoder.weight"


def _zero(ckpt: Checkpoint, layer: int, unit: int, parts: tuple[str, ...]) -> Checkpoint:
    """A copy with the named outgoing parts (``w_hh``, ``consumer``) of one unit zeroed."""
    sd = {k: v.clone() for k, v in ckpt.state_dict.items()}
    if "w_hh" in parts:
        sd[f"lstm.weight_hh_l{layer}"][:, unit] = 0
    if "consumer" in parts:
        sd[_consumer(ckpt.config, layer)][:, unit] = 0
    return Checkpoint(ckpt.config, sd, {})


def _module(ckpt: Checkpoint) -> torch.nn.Module:
    m = build_module(ckpt.config)
    m.load_state_dict(ckpt.state_dict)
    return m.eval()


def _outputs(ckpt: Checkpoint, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return _module(ckpt)(x)


def _inputs(cfg: ModelConfig) -> torch.Tensor:
    gen = torch.Generator().manual_seed(7)
    if cfg.kind == "classifier":
        return torch.randn(6, 5, cfg.n_in, generator=gen)
    return torch.randint(0, cfg.vocab, (4, 6), generator=gen)


@pytest.mark.parametrize("kind", ["classifier", "lm"])
@pytest.mark.parametrize("layer", [0, 1])
@pytest.mark.parametrize("zeroed", [("consumer",), ("w_hh",)], ids=["consumer-only", "w_hh-only"])
def test_unit_with_one_outgoing_part_left_stays(kind, layer, zeroed):
    cfg = CONFIGS[kind]
    unit = 1
    ckpt = _zero(_ckpt(cfg, 3), layer, unit, zeroed)
    x = _inputs(cfg)
    # the part left nonzero matters: zeroing it too (what removal amounts to) changes the outputs
    both = _zero(ckpt, layer, unit, ("w_hh", "consumer"))
    assert (_outputs(both, x) - _outputs(ckpt, x)).abs().max() > 1e-3
    assert not removable_units(ckpt)[layer][unit]
    assert iss_stats(_module(ckpt))["outgoing_zero_units"] == 0
    small = compact(ckpt)
    assert small.config.hidden == cfg.hidden
    torch.testing.assert_close(_outputs(small, x), _outputs(ckpt, x), rtol=0, atol=1e-6)


@pytest.mark.parametrize("kind", ["classifier", "lm"])
@pytest.mark.parametrize("layer", [0, 1])
def test_unit_with_both_outgoing_parts_zero_goes(kind, layer):
    cfg = CONFIGS[kind]
    ckpt = _zero(_ckpt(cfg, 3), layer, 1, ("w_hh", "consumer"))
    assert removable_units(ckpt)[layer].tolist() == [u == 1 for u in range(cfg.hidden[layer])]
    assert iss_stats(_module(ckpt))["outgoing_zero_units"] == 1
    small = compact(ckpt)
    want = tuple(h - (li == layer) for li, h in enumerate(cfg.hidden))
    assert small.config.hidden == want
    x = _inputs(cfg)
    torch.testing.assert_close(_outputs(small, x), _outputs(ckpt, x), rtol=0, atol=1e-5)


def test_mixed_units_in_one_layer():
    """In one layer: a unit with only its consumer column zero, one with only its W_hh column
    zero, one with both: exactly the last goes."""
    cfg = CONFIGS["classifier"]
    ckpt = _ckpt(cfg, 5)
    ckpt = _zero(ckpt, 0, 0, ("consumer",))
    ckpt = _zero(ckpt, 0, 2, ("w_hh",))
    ckpt = _zero(ckpt, 0, 4, ("w_hh", "consumer"))
    assert removable_units(ckpt)[0].tolist() == [False, False, False, False, True]
    small = compact(ckpt)
    assert small.config.hidden == (4, 4)
    x = _inputs(cfg)
    torch.testing.assert_close(_outputs(small, x), _outputs(ckpt, x), rtol=0, atol=1e-5)
