"""SHS in training: the thresholded cell, its gradients, the L1 penalty, h-sparsity metrics,
SHS + ISS compaction, checkpoints with and without a threshold, the threshold in the IR, the
float vs integer zero pattern of a trained model, and bit-identical resume."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from lstmgen.checkpoint import (
    Checkpoint,
    ModelConfig,
    build_module,
    load_checkpoint,
    save_checkpoint,
)
from lstmgen.errors import CheckpointError, UsageError
from lstmgen.fixedpoint import quantize as quantize_codes
from lstmgen.nn.lstm import LSTMClassifier, LSTMStack, shs_layer
from lstmgen.quant import QuantOptions, checkpoint_net, quantize_inputs, quantize_net
from lstmgen.sparsity import compact
from lstmgen.sparsity.shs import (
    count_h_zeros,
    deployed_h_stats,
    shs_penalty,
    zero_pattern_agreement,
)
from lstmgen.testing import random_inputs, random_model
from lstmgen.train import default_config, train

pytestmark = [pytest.mark.unit, pytest.mark.usefixtures("torch_one_thread")]


def _reference(x, h0, c0, w_ih, w_hh, b_ih, b_hh, theta):
    """The SHS layer written as a plain autograd loop (the definition)."""
    h, c, outs, o_sum = h0, c0, [], 0.0
    for t in range(x.shape[1]):
        a = x[:, t] @ w_ih.t() + b_ih + h @ w_hh.t() + b_hh
        i, f, g, o = a.chunk(4, 1)
        i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
        o_sum = o_sum + o.sum()
        o = torch.where(o > theta, o, torch.zeros_like(o))
        c = f * c + i * g
        h = o * torch.tanh(c)
        outs.append(h)
    return torch.stack(outs, 1), h, c, o_sum


def _args(seed: int, B=3, T=5, X=4, H=6):
    g = torch.Generator().manual_seed(seed)
    shapes = [(B, T, X), (B, H), (B, H), (4 * H, X), (4 * H, H), (4 * H,), (4 * H,)]
    return [torch.randn(*s, generator=g, dtype=torch.float64).requires_grad_() for s in shapes]


@pytest.mark.parametrize("theta", [0.0, 0.3, 0.6])
def test_shs_layer_forward_and_backward_equal_the_plain_loop(theta):
    args = _args(1)
    want = _reference(*args, theta)
    got = shs_layer(*args, theta)
    for w, g in zip(want, got):
        torch.testing.assert_close(g, w, rtol=0, atol=1e-12)
    weights = [torch.randn_like(v) for v in want]
    gw = torch.autograd.grad(sum((a * b).sum() for a, b in zip(want, weights)), args)
    gg = torch.autograd.grad(sum((a * b).sum() for a, b in zip(got, weights)), args)
    for name, a, b in zip(("x", "h0", "c0", "w_ih", "w_hh", "b_ih", "b_hh"), gw, gg):
        torch.testing.assert_close(b, a, rtol=0, atol=1e-12, msg=name)


def test_shs_layer_gradcheck():
    args = _args(2, B=2, T=3, X=2, H=3)
    assert torch.autograd.gradcheck(lambda *a: shs_layer(*a, 0.45), args)


def test_threshold_zero_gives_the_fused_lstm():
    """θ = 0 keeps every gate (σ > 0): the per-step cell equals torch's fused kernel."""
    torch.manual_seed(0)
    dense = LSTMStack(5, (7, 4)).double()
    shs = LSTMStack(5, (7, 4), shs_threshold=0.0).double()
    shs.load_state_dict(dense.state_dict())
    x = torch.randn(3, 6, 5, dtype=torch.float64)
    (a, sa), (b, sb) = dense(x), shs(x)
    torch.testing.assert_close(b, a)
    for (h1, c1), (h2, c2) in zip(sa, sb):
        torch.testing.assert_close(h2, h1)
        torch.testing.assert_close(c2, c1)


def test_threshold_gives_exact_zeros_and_gradient_only_through_kept_entries():
    """Unit 0's output gate sits below θ (zeroed), unit 1's above (kept): h is exactly 0 where
    zeroed; the gradient of h reaches the output-gate row of a kept unit and not of a zeroed
    one, while the cell path (its i, f, g rows) is not cut by the threshold of *its own* h."""
    H, X = 2, 1
    w_ih = torch.zeros(4 * H, X, dtype=torch.float64)
    w_hh = torch.zeros(4 * H, H, dtype=torch.float64)
    b = torch.zeros(4 * H, dtype=torch.float64)
    b[3 * H + 0] = -2.0  # σ = 0.12 < θ: zeroed
    b[3 * H + 1] = 2.0   # σ = 0.88 > θ: kept
    b[2 * H:3 * H] = 1.0  # g > 0 so tanh(c) != 0
    w_ih.requires_grad_()
    b_ih = b.clone().requires_grad_()
    b_hh = torch.zeros_like(b, requires_grad=True)
    w_hh.requires_grad_()
    x = torch.ones(1, 2, X, dtype=torch.float64)
    h0 = torch.zeros(1, H, dtype=torch.float64)
    out, _, _, _ = shs_layer(x, h0, h0.clone(), w_ih, w_hh, b_ih, b_hh, 0.5)
    assert torch.all(out[..., 0] == 0.0)
    assert torch.all(out[..., 1] != 0.0)
    out[:, -1].sum().backward()
    assert b_ih.grad[3 * H + 0] == 0.0 and b_ih.grad[3 * H + 1] != 0.0
    assert w_ih.grad[3 * H + 0].abs().sum() == 0.0


def test_penalty_on_a_hand_computed_case():
    """Zero weights, output-gate biases set: σ(a_o) is 0.5 in layer 0 and 0.75 in layer 1 at
    every step. B=2, T=3, H=(2, 3): penalty = 1·(2·3·2·0.5) + factor·(2·3·3·0.75)."""
    model = LSTMClassifier(1, (2, 3), 2, shs_threshold=0.6).double()
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.lstm.bias_ih_l1[3 * 3:] = math.log(3.0)  # σ(ln 3) = 0.75
    model(torch.randn(2, 3, 1, dtype=torch.float64))
    assert float(shs_penalty(model, 2.0).detach()) == pytest.approx(6.0 + 2.0 * 13.5)
    assert float(shs_penalty(model, 1.0).detach()) == pytest.approx(6.0 + 13.5)
    assert float(shs_penalty(model, 0.0).detach()) == pytest.approx(6.0)
    with count_h_zeros(model) as counter:
        model(torch.randn(2, 3, 1, dtype=torch.float64))
    # layer 0: σ = 0.5 <= 0.6 everywhere -> all zero; layer 1: 0.75 > 0.6 but c stays 0 (g = 0)
    assert counter.fractions() == [1.0, 1.0]
    assert counter.metrics("train_")["train_h_zeros"] == 1.0


def test_penalty_needs_shs_and_a_forward():
    with pytest.raises(UsageError, match="SHS threshold"):
        shs_penalty(LSTMClassifier(2, (3,), 2))
    with pytest.raises(UsageError, match="run the model first"):
        shs_penalty(LSTMClassifier(2, (3,), 2, shs_threshold=0.2))


def test_penalty_enters_the_training_loss():
    """--shs-lambda drives the output gates down: more zeros in h than without it."""
    base = {"hidden": (8,), "epochs": 3, "shs_threshold": 0.3}
    plain = train(default_config("default", **base), progress=False)
    pushed = train(default_config("default", **base, shs_lambda=3e-3), progress=False)
    assert pushed.history[-1]["h_zeros"] > plain.history[-1]["h_zeros"]
    for m in pushed.history:
        assert set(m) >= {"h_zeros", "h_zeros_per_layer", "train_h_zeros",
                          "train_h_zeros_per_layer"}
    assert pushed.checkpoint.config.shs_threshold == 0.3


def test_dead_output_gates_are_warned_once(capsys):
    """An SHS setting that zeroes a whole layer of h (theta 0.5 with a strong penalty from scratch
    on digits) gets one warning line naming the layers and what to change; a healthy one none."""
    dead = train(default_config("default", hidden=(8,), epochs=3, shs_threshold=0.5,
                                shs_lambda=3e-2), progress=False)
    assert dead.history[-1]["h_zeros_per_layer"] == [1.0]
    err = capsys.readouterr().err
    assert err.count("lstmgen: warning:") == 1
    assert "every entry of h is zero in layer(s) 0" in err and "--shs-lambda" in err
    train(default_config("default", hidden=(8,), epochs=2, shs_threshold=0.1), progress=False)
    assert "warning" not in capsys.readouterr().err


def test_options_are_checked():
    with pytest.raises(UsageError, match="shs-threshold"):
        default_config("default", shs_threshold=1.0)
    with pytest.raises(UsageError, match="needs an output-gate threshold"):
        default_config("default", shs_lambda=1e-3)
    with pytest.raises(UsageError, match="shs-layer-factor"):
        default_config("default", shs_threshold=0.2, shs_layer_factor=-1.0)


def test_model_config_threshold_is_optional_and_checked(tmp_path):
    old = ModelConfig(kind="classifier", n_in=3, hidden=(4,), n_out=2)
    assert "shs_threshold" not in old.to_dict()  # older files never had it
    assert ModelConfig.from_dict(old.to_dict()).shs_threshold is None
    new = ModelConfig(kind="classifier", n_in=3, hidden=(4,), n_out=2, shs_threshold=0.25)
    assert ModelConfig.from_dict(new.to_dict()) == new
    for bad in (1.0, -0.1, "0.3", True):
        with pytest.raises(CheckpointError, match="shs_threshold"):
            ModelConfig(kind="classifier", n_in=3, hidden=(4,), n_out=2, shs_threshold=bad)
    model = build_module(new)
    save_checkpoint(Checkpoint(new, model.state_dict()), tmp_path / "m.pt")
    loaded = load_checkpoint(tmp_path / "m.pt")
    assert loaded.config.shs_threshold == 0.25
    assert build_module(loaded.config).lstm.shs_threshold == 0.25


def test_shs_with_iss_compaction_stays_exact():
    """An SHS model whose units 1 and 4 have all-zero outgoing weights: compacting them away
    gives the same outputs (the zeros of h cannot change what the dropped units never sent)."""
    torch.manual_seed(3)
    cfg = ModelConfig(kind="classifier", n_in=4, hidden=(6, 5), n_out=3, shs_threshold=0.4)
    model = build_module(cfg)
    with torch.no_grad():
        for unit, (hh, cons) in ((1, ("weight_hh_l0", "weight_ih_l1")),
                                 (4, ("weight_hh_l1", None))):
            getattr(model.lstm, hh)[:, unit] = 0.0
            if cons:
                getattr(model.lstm, cons)[:, unit] = 0.0
            else:
                model.head.weight[:, unit] = 0.0
    ckpt = Checkpoint(cfg, {k: v.clone() for k, v in model.state_dict().items()})
    small = compact(ckpt)
    assert small.config.hidden == (5, 4) and small.config.shs_threshold == 0.4
    x = torch.randn(16, 9, 4)
    ref = build_module(small.config)
    ref.load_state_dict(small.state_dict)
    with torch.no_grad():
        torch.testing.assert_close(ref.eval()(x), model.eval()(x), rtol=0, atol=1e-5)


def test_iss_and_shs_train_together():
    cfg = default_config("default", hidden=(8, 6), epochs=2, iss_lambda=3e-3, shs_threshold=0.2,
                         shs_lambda=1e-4)
    result = train(cfg, progress=False)
    assert "removable_units" in result.history[-1] and "h_zeros" in result.history[-1]


def test_threshold_reaches_the_ir_as_a_gate_code():
    cfg = ModelConfig(kind="classifier", n_in=3, hidden=(4, 5), n_out=2, shs_threshold=0.37)
    torch.manual_seed(1)
    ckpt = Checkpoint(cfg, build_module(cfg).state_dict())
    net = checkpoint_net(ckpt)
    assert [la.o_threshold for la in net.layers] == [0.37, 0.37]
    model = quantize_net(net, np.random.default_rng(0).normal(size=(8, 5, 3)))
    code = int(quantize_codes(0.37, 16, 15))
    assert [la.o_threshold for la in model.layers] == [code, code]


def test_deployed_stats_equal_the_passes_measurement():
    from lstmgen.passes import executed_macs_per_step, h_zero_fractions

    m = random_model(4, hidden=(7, 5), shs=True)
    x = random_inputs(m, 5, 6, 1)
    s = deployed_h_stats(m, x)
    assert s["executed_macs_per_step"] == pytest.approx(executed_macs_per_step(m, x))
    assert s["h_zeros_per_layer"] == pytest.approx(h_zero_fractions(m, x))
    assert s["macs_per_step"] == m.macs_per_step() and s["steps"] == 30


@pytest.fixture(scope="module")
def trained_shs():
    """A small SHS digits model, trained once (2x16, θ 0.3, 12 epochs: a few seconds)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cfg = default_config("default", hidden=(16, 16), epochs=12, shs_threshold=0.3,
                             shs_lambda=1e-4, seed=1)
        return train(cfg, progress=False).checkpoint
    finally:
        torch.set_num_threads(n)


def test_integer_threshold_zeroes_what_the_float_model_zeroes(trained_shs):
    """On the validation data, the output-gate entries the deployed (int16, golden) model zeroes
    are those the float model zeroes, except entries whose float pre-activation lies within one
    sigmoid-table step of logit(θ)."""
    from lstmgen.data import load_digits_split

    d = load_digits_split()
    net = checkpoint_net(trained_shs)
    model = quantize_net(net, d.x_train[:512], QuantOptions(weight_bits=16))
    zp = zero_pattern_agreement(net, model, d.x_val, quantize_inputs(model, d.x_val))
    print(json.dumps(zp.to_dict()))  # the figures: shares of zeros, mismatches, near entries
    assert min(zp.float_zeros) > 0.05  # the model did learn sparse h
    assert zp.mismatch_outside_near == [0.0, 0.0]
    for near, mis in zip(zp.near, zp.mismatch):
        assert mis <= near < 0.2


def test_resume_with_shs_and_iss_is_bit_identical(tmp_path):
    cfg = default_config("default", hidden=(6, 5), epochs=3, dropout=0.3, iss_lambda=1e-3,
                         shs_threshold=0.3, shs_lambda=1e-3)
    full = train(cfg, tmp_path / "full", progress=False)
    train(cfg, tmp_path / "part", progress=False, epochs=1)
    resumed = train(None, tmp_path / "part", resume=True, progress=False, epochs=3)
    for k, v in full.checkpoint.state_dict.items():
        assert torch.equal(v, resumed.checkpoint.state_dict[k]), k
    strip = [{k: v for k, v in json.loads(s).items() if k != "seconds"}
             for s in (tmp_path / "part" / "metrics.jsonl").read_text().splitlines()]
    want = [{k: v for k, v in json.loads(s).items() if k != "seconds"}
            for s in (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()]
    assert strip == want


def test_lm_with_shs_trains_and_resumes(tmp_path, tiny_ptb):
    cfg = default_config("ptb", data=str(tiny_ptb), hidden=(8, 6), embed=5, batch=4, bptt=6,
                         epochs=2, dropout=0.2, shs_threshold=0.3, shs_lambda=1e-3)
    full = train(cfg, tmp_path / "full", progress=False)
    train(cfg, tmp_path / "part", progress=False, epochs=1)
    resumed = train(None, tmp_path / "part", resume=True, progress=False, epochs=2)
    for k, v in full.checkpoint.state_dict.items():
        assert torch.equal(v, resumed.checkpoint.state_dict[k]), k
    assert full.history[-1]["h_zeros_per_layer"] and len(full.history[-1]["h_zeros_per_layer"]) == 2
