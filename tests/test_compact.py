"""Compaction: removing units with all-zero outgoing weights leaves the outputs unchanged."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lstmgen.checkpoint import Checkpoint, ModelConfig, build_module
from lstmgen.sparsity import compact, removable_units

pytestmark = pytest.mark.unit


def _model_ckpt(cfg: ModelConfig, seed: int) -> Checkpoint:
    torch.manual_seed(seed)
    model = build_module(cfg)
    return Checkpoint(cfg, {k: v.detach().clone() for k, v in model.state_dict().items()}, {})


def _kill(ckpt: Checkpoint, layer: int, unit: int) -> None:
    """Zero the outgoing weights of one unit (what ISS training produces)."""
    sd, cfg = ckpt.state_dict, ckpt.config
    sd[f"lstm.weight_hh_l{layer}"][:, unit] = 0
    if layer + 1 < len(cfg.hidden):
        sd[f"lstm.weight_ih_l{layer + 1}"][:, unit] = 0
    else:
        sd["head.weight" if cfg.kind == "classifier" else "decoder.weight"][:, unit] = 0


def _outputs(ckpt: Checkpoint, x: torch.Tensor) -> torch.Tensor:
    model = build_module(ckpt.config)
    model.load_state_dict(ckpt.state_dict)
    with torch.no_grad():
        return model.eval()(x)


@st.composite
def _cases(draw):
    kind = draw(st.sampled_from(["classifier", "lm"]))
    hidden = tuple(draw(st.lists(st.integers(1, 7), min_size=1, max_size=3)))
    n_in = draw(st.integers(1, 5))
    n_out = draw(st.integers(1, 6))
    cfg = ModelConfig(kind=kind, n_in=n_in, hidden=hidden, n_out=n_out,
                      vocab=n_out if kind == "lm" else 0)
    kills = []
    for layer, h in enumerate(hidden):
        mode = draw(st.sampled_from(["none", "random", "all_but_one", "all"]))
        units = {"none": [], "all": list(range(h)),
                 "all_but_one": [u for u in range(h) if u != draw(st.integers(0, h - 1))],
                 "random": [u for u in range(h) if draw(st.booleans())]}[mode]
        kills += [(layer, u) for u in units]
    return cfg, kills, draw(st.integers(0, 2**16))


@settings(max_examples=60, deadline=None)
@given(_cases())
def test_compact_equals_masked(case):
    cfg, kills, seed = case
    ckpt = _model_ckpt(cfg, seed)
    for layer, unit in kills:
        _kill(ckpt, layer, unit)
    before = {k: v.clone() for k, v in ckpt.state_dict.items()}
    small = compact(ckpt)
    assert all(torch.equal(before[k], ckpt.state_dict[k]) for k in before)  # input untouched
    for layer, h in enumerate(cfg.hidden):
        dead = sum(1 for lay, _ in kills if lay == layer)
        assert small.config.hidden[layer] == max(h - dead, 1)
    assert not any(m.any() for m in removable_units(small)) or min(small.config.hidden) == 1
    gen = torch.Generator().manual_seed(seed)
    if cfg.kind == "classifier":
        x = torch.randn(5, 4, cfg.n_in, generator=gen)
    else:
        x = torch.randint(0, cfg.vocab, (3, 6), generator=gen)
    torch.testing.assert_close(_outputs(small, x), _outputs(ckpt, x), rtol=0, atol=1e-5)


def test_all_units_removable_keeps_one_and_tied_unties():
    cfg = ModelConfig(kind="lm", n_in=4, hidden=(3, 4), n_out=5, vocab=5, tied=True)
    ckpt = _model_ckpt(cfg, 0)
    for u in range(3):
        _kill(ckpt, 0, u)
    same = compact(ckpt)
    assert same.config.hidden == (1, 4) and same.config.tied
    ckpt.state_dict["decoder.weight"][:, 2] = 0
    ckpt.state_dict["embedding.weight"][:, 2] = 0
    ckpt.state_dict["lstm.weight_hh_l1"][:, 2] = 0
    small = compact(ckpt)
    assert small.config.hidden == (1, 3) and not small.config.tied
    assert small.state_dict["embedding.weight"].shape == (5, 4)
    assert small.meta["compacted_from"] == [3, 4]
    x = torch.randint(0, 5, (2, 7))
    torch.testing.assert_close(_outputs(small, x), _outputs(ckpt, x), rtol=0, atol=1e-5)
