"""The tensorized LSTM's PyTorch module (lstmgen.nn.tlstm): shapes, causality of the delayed
output, a float64 gradient check, the P = 1 reduction to nn.LSTM, streaming, the variants, and
its checkpoint configuration."""

from __future__ import annotations

import pytest
import torch

from lstmgen.checkpoint import (
    Checkpoint,
    ModelConfig,
    build_module,
    count_params,
    expected_shapes,
    load_checkpoint,
    macs_per_step,
    save_checkpoint,
)
from lstmgen.errors import CheckpointError
from lstmgen.nn.tlstm import (
    TLSTM,
    TLSTMClassifier,
    TLSTMLanguageModel,
    TlstmSpec,
    conv_pairs,
    kernel_offsets,
    max_depth,
    tlstm_macs,
)

pytestmark = pytest.mark.unit

VARIANTS = [
    {},
    {"memory_conv": False},
    {"feedback": False},
    {"channel_norm": True},
    {"memory_conv": False, "feedback": False},
]


@pytest.mark.parametrize("opts", VARIANTS)
@pytest.mark.parametrize("P,K", [(1, 2), (3, 3), (4, 2), (5, 4)])
def test_shapes(P: int, K: int, opts: dict) -> None:
    torch.manual_seed(0)
    clf = TLSTMClassifier(5, 3, P, 6, K, **opts)
    assert clf(torch.randn(2, 7, 5)).shape == (2, 3)
    lm = TLSTMLanguageModel(11, P, 6, K, **opts)
    assert lm(torch.randint(0, 11, (2, 7))).shape == (2, 7, 11)
    out, (h, c) = TLSTM(5, P, 6, K, **opts)(torch.randn(2, 7, 5))
    assert out.shape == (2, 7, 6) and h.shape == c.shape == (2, P, 6)


@pytest.mark.parametrize("opts", VARIANTS)
@pytest.mark.parametrize("P,K", [(1, 3), (3, 3), (4, 2), (6, 5)])
def test_delayed_output_is_causal(P: int, K: int, opts: dict) -> None:
    """Output t (delayed by L - 1 = the largest causal delay) depends on inputs up to t only,
    exactly; and it does depend on input t."""
    torch.manual_seed(1)
    lm = TLSTMLanguageModel(13, P, 5, K, **opts).double()
    x = torch.randint(1, 13, (3, 9))
    y = lm(x)
    for t in range(9):
        x2 = x.clone()
        x2[:, t + 1:] = (x2[:, t + 1:] + 5) % 13
        y2 = lm(x2)
        assert torch.equal(y[:, :t + 1], y2[:, :t + 1]), t
        x3 = x.clone()
        x3[:, t] = (x3[:, t] + 5) % 13
        assert not torch.equal(lm(x3)[:, t], y[:, t]), t


def test_depth_beyond_causal_is_refused() -> None:
    top = max_depth(4, 3)
    assert top == 4
    TLSTMLanguageModel(5, 4, 3, 3, depth=top)
    TLSTMLanguageModel(5, 4, 3, 3, depth=1)
    with pytest.raises(ValueError, match="would let the output at t see later inputs"):
        TLSTMLanguageModel(5, 4, 3, 3, depth=top + 1)
    with pytest.raises(ValueError, match="depth L"):
        TlstmSpec(P=4, depth=0)
    with pytest.raises(ValueError, match="kernel size K"):
        TlstmSpec(P=4, K=1)


def test_shorter_delay_is_still_causal() -> None:
    torch.manual_seed(2)
    lm = TLSTMLanguageModel(9, 4, 4, 3, depth=2).double()
    x = torch.randint(0, 9, (2, 8))
    y = lm(x)
    x2 = x.clone()
    x2[:, 5:] = (x2[:, 5:] + 1) % 9
    assert torch.equal(lm(x2)[:, :5], y[:, :5])


@pytest.mark.parametrize("opts", VARIANTS)
def test_gradient_check_float64(opts: dict) -> None:
    """torch.autograd.gradcheck of the classifier's output w.r.t. its input and every
    parameter, on a tiny model in float64."""
    torch.manual_seed(3)
    model = TLSTMClassifier(3, 2, 3, 4, 3, **opts).double()
    with torch.no_grad():  # random biases too: zero ones make CN's variance 0 at the first step
        for p in model.parameters():
            p.uniform_(-1.0, 1.0)
    names = [n for n, _ in model.named_parameters()]
    x = torch.randn(2, 4, 3, dtype=torch.float64, requires_grad=True)

    def fn(x, *ps):  # a functional call, so gradcheck sees the parameters as inputs
        return torch.func.functional_call(model, dict(zip(names, ps)), (x,))

    ps = [p.detach().clone().requires_grad_(True) for p in model.parameters()]
    assert torch.autograd.gradcheck(fn, (x, *ps), eps=1e-6, atol=1e-6)


@pytest.mark.parametrize("K", [2, 3, 4, 5])
def test_p1_without_memory_conv_is_an_lstm(K: int) -> None:
    """P = 1, no memory-cell convolution, no CN: exactly nn.LSTM with as_lstm_weights (float64,
    to round-off)."""
    torch.manual_seed(4)
    core = TLSTM(5, 1, 6, K, memory_conv=False).double()
    with torch.no_grad():  # non-zero biases too
        core.b_x.uniform_(-0.5, 0.5)
        core.b_h.uniform_(-0.5, 0.5)
    w = core.as_lstm_weights()
    lstm = torch.nn.LSTM(5, 6, batch_first=True).double()
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(w["weight_ih"])
        lstm.weight_hh_l0.copy_(w["weight_hh"])
        lstm.bias_ih_l0.copy_(w["bias"])
        lstm.bias_hh_l0.zero_()
    x = torch.randn(3, 11, 5, dtype=torch.float64)
    a, (_, c) = core(x)
    b, (_, cn) = lstm(x)
    torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
    torch.testing.assert_close(c[:, 0], cn[0], rtol=0, atol=1e-12)
    with pytest.raises(ValueError):
        TLSTM(5, 1, 6, K).as_lstm_weights()  # with the memory-cell convolution it is not


def test_streaming_equals_whole_sequence() -> None:
    """forward_with_state over windows (state carried) gives the whole-sequence outputs: the
    L - 1 padding steps after a window never change an output (mathematically; float64
    matrix products may round the other rows' values differently, hence the 1e-12)."""
    torch.manual_seed(5)
    lm = TLSTMLanguageModel(12, 5, 4, 3).double()
    x = torch.randint(0, 12, (2, 17))
    whole = lm(x)
    state, outs = None, []
    for i in range(0, 17, 4):
        o, state = lm.forward_with_state(x[:, i:i + 4], state)
        outs.append(o)
    torch.testing.assert_close(torch.cat(outs, 1), whole, rtol=0, atol=1e-12)


def test_offsets_and_macs() -> None:
    assert kernel_offsets(4) == (-2, -1, 0, 1)
    assert kernel_offsets(4, feedback=False) == (-3, -2, -1, 0)
    assert max_depth(6, 5) == 3 and max_depth(6, 4, feedback=False) == 2
    assert conv_pairs(3, (-1, 0, 1), 0) == 8 and conv_pairs(3, (-1, 0, 1), 1) == 7
    spec = TlstmSpec(P=3, K=3)
    m = tlstm_macs("classifier", 4, 5, 2, spec)
    assert m["tlstm"] == 4 * 5 + 8 * 5 * 23 + 7 * 5 and m["head"] == 10


def test_checkpoint_config_round_trip(tmp_path) -> None:
    spec = TlstmSpec(P=3, K=3, memory_conv=False)
    cfg = ModelConfig(kind="lm", n_in=6, hidden=(6,), n_out=11, vocab=11, tlstm=spec)
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    torch.manual_seed(6)
    model = build_module(cfg)
    sd = model.state_dict()
    assert {k: tuple(v.shape) for k, v in sd.items()} == expected_shapes(cfg)
    assert count_params(cfg) == sum(v.numel() for v in sd.values())
    assert macs_per_step(cfg)["lstm"] == tlstm_macs("lm", 6, 6, 11, spec)["tlstm"]
    save_checkpoint(Checkpoint(cfg, sd, {"task": "addition"}), tmp_path / "m.pt")
    back = load_checkpoint(tmp_path / "m.pt")
    assert back.config == cfg
    m2 = build_module(back.config)
    m2.load_state_dict(back.state_dict)
    x = torch.randint(0, 11, (2, 5))
    assert torch.equal(m2.eval()(x), model.eval()(x))
    # an LSTM config is written without the key
    assert "tlstm" not in ModelConfig(kind="lm", n_in=6, hidden=(6,), n_out=11, vocab=11).to_dict()


@pytest.mark.parametrize("bad,match", [
    ({"tlstm": {"P": 0}}, "tensor size P"),
    ({"tlstm": {"P": 2, "X": 1}}, "unknown key"),
    ({"tlstm": {"P": 2}, "hidden": (4, 4)}, "one size"),
    ({"tlstm": {"P": 2}, "n_in": 5}, "n_in must equal"),
    ({"tlstm": {"P": 2, "depth": 3}}, "depth L"),
])
def test_checkpoint_config_refuses(bad: dict, match: str) -> None:
    d = {"kind": "lm", "n_in": 4, "hidden": (4,), "n_out": 7, "vocab": 7, **bad}
    with pytest.raises(CheckpointError, match=match):
        ModelConfig(**d)
