"""ISS groups against explicit index lists, penalty against a loop, zero-out and stats."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lstmgen.checkpoint import ModelConfig, build_module
from lstmgen.errors import UsageError
from lstmgen.sparsity import group_lasso, group_norms, iss_groups, iss_stats, zero_out

pytestmark = pytest.mark.unit


def _classifier(hidden=(3, 2), n_in=2, n_out=2, seed=0):
    torch.manual_seed(seed)
    return build_module(ModelConfig(kind="classifier", n_in=n_in, hidden=hidden, n_out=n_out))


def test_groups_by_hand_two_layers():
    # layer 0: H=3, X=2; layer 1: H=2, X=3; head: 2 classes
    groups = {(g.layer, g.unit): g.entries for g in iss_groups(_classifier())}
    assert sorted(groups) == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1)]
    g = groups[(0, 1)]  # rows 1, 4, 7, 10 of the (12, .) matrices
    assert g["lstm.weight_ih_l0"] == (
        (1, 0), (1, 1), (4, 0), (4, 1), (7, 0), (7, 1), (10, 0), (10, 1)
    )
    rows_hh = {(r, c) for r in (1, 4, 7, 10) for c in range(3)}
    col_hh = {(r, 1) for r in range(12)}
    assert set(g["lstm.weight_hh_l0"]) == rows_hh | col_hh
    assert len(g["lstm.weight_hh_l0"]) == 12 + 12 - 4  # the 4 shared entries counted once
    assert g["lstm.bias_ih_l0"] == ((1,), (4,), (7,), (10,))
    assert g["lstm.bias_hh_l0"] == ((1,), (4,), (7,), (10,))
    assert g["lstm.weight_ih_l1"] == tuple((r, 1) for r in range(8))  # consumer column
    assert set(g) == {"lstm.weight_ih_l0", "lstm.weight_hh_l0", "lstm.bias_ih_l0",
                      "lstm.bias_hh_l0", "lstm.weight_ih_l1"}
    g = groups[(1, 0)]  # top layer: rows 0, 2, 4, 6; consumer is the head
    assert g["lstm.weight_ih_l1"] == tuple((r, c) for r in (0, 2, 4, 6) for c in range(3))
    assert set(g["lstm.weight_hh_l1"]) == (
        {(r, c) for r in (0, 2, 4, 6) for c in range(2)} | {(r, 0) for r in range(8)}
    )
    assert g["head.weight"] == ((0, 0), (1, 0))
    lm = build_module(ModelConfig(kind="lm", n_in=3, hidden=(2,), n_out=5, vocab=5))
    assert iss_groups(lm)[1].entries["decoder.weight"] == tuple((r, 1) for r in range(5))


@pytest.mark.parametrize("kind", ["classifier", "lm"])
def test_penalty_equals_loop(kind):
    torch.manual_seed(3)
    if kind == "classifier":
        model = _classifier(hidden=(4, 1, 3), n_in=5, n_out=3)
    else:
        model = build_module(ModelConfig(kind="lm", n_in=3, hidden=(2, 5), n_out=7, vocab=7))
    eps = 1e-8
    sd = model.state_dict()
    want = 0.0
    for comp in iss_groups(model):
        s = sum(float(sd[name][idx]) ** 2 for name, idxs in comp.entries.items() for idx in idxs)
        want += math.sqrt(s + eps)
    got = group_lasso(model, eps=eps)
    assert got.item() == pytest.approx(want, rel=1e-5)
    got.backward()
    assert model.lstm.weight_hh_l0.grad is not None


def test_zero_out_and_stats():
    model = _classifier()
    with torch.no_grad():
        model.lstm.weight_hh_l1[:, 1] = 5e-5  # unit 1 of layer 1: outgoing column ...
        model.head.weight[:, 1] = -5e-5       # ... and head column below the threshold
        model.head.bias.fill_(1e-6)            # not in any group: must survive
        emb_like = model.lstm.weight_ih_l0.clone()
    zero_out(model, 1e-4)
    assert (model.lstm.weight_hh_l1[:, 1] == 0).all() and (model.head.weight[:, 1] == 0).all()
    assert (model.head.bias == 1e-6).all()
    assert torch.equal(model.lstm.weight_ih_l0, emb_like.masked_fill(emb_like.abs() < 1e-4, 0))
    stats = iss_stats(model)
    assert [d["outgoing_zero_units"] for d in stats["layers"]] == [0, 1]
    assert stats["zero_components"] == 0 and stats["total_units"] == 5
    with torch.no_grad():
        for name, idxs in iss_groups(model)[0].entries.items():
            p = model.get_parameter(name)
            for idx in idxs:
                p[idx] = 0.0
    stats = iss_stats(model)
    assert stats["layers"][0]["zero_components"] == 1
    assert stats["layers"][0]["outgoing_zero_units"] == 1
    assert group_norms(model)[0][0].item() == 0.0


def test_tied_weights_refused():
    model = build_module(ModelConfig(kind="lm", n_in=4, hidden=(4,), n_out=6, vocab=6, tied=True))
    with pytest.raises(UsageError, match="tied"):
        group_lasso(model)
    with pytest.raises(UsageError, match="tied"):
        zero_out(model, 1e-4)


@settings(max_examples=40, deadline=None)
@given(kind=st.sampled_from(["classifier", "lm"]),
       hidden=st.lists(st.integers(1, 6), min_size=1, max_size=3),
       n_in=st.integers(1, 5), n_out=st.integers(1, 6), seed=st.integers(0, 2**16),
       dead=st.integers(0, 3), had_grad=st.booleans(), weight=st.floats(1e-4, 1.0))
def test_analytic_penalty_gradient_equals_autograd(kind, hidden, n_in, n_out, seed, dead,
                                                   had_grad, weight):
    """add_group_lasso_grad adds what backward of weight * group_lasso adds, on grads that are
    None or already hold a loss gradient, with whole components zero (s_k = 0: only eps)."""
    from lstmgen.sparsity import add_group_lasso_grad

    torch.manual_seed(seed)
    cfg = ModelConfig(kind=kind, n_in=n_in, hidden=tuple(hidden), n_out=n_out,
                      **({"vocab": n_out} if kind == "lm" else {}))
    model = build_module(cfg).double()
    groups = iss_groups(model)
    with torch.no_grad():  # zero a few whole components
        for comp in groups[:dead]:
            for name, idxs in comp.entries.items():
                p = model.get_parameter(name)
                for idx in idxs:
                    p[idx] = 0.0
    params = dict(model.named_parameters())

    def start() -> None:
        for p in params.values():
            p.grad = None if not had_grad else torch.full_like(p, 0.25)

    start()
    (weight * group_lasso(model)).backward()
    want = {n: None if p.grad is None else p.grad.clone() for n, p in params.items()}
    start()
    add_group_lasso_grad(model, weight)
    for n, p in params.items():
        if want[n] is None:
            assert p.grad is None, n  # the embedding and the head's bias are in no group
        else:
            torch.testing.assert_close(p.grad, want[n], rtol=1e-12, atol=1e-12, msg=n)


@settings(max_examples=30, deadline=None)
@given(threshold=st.sampled_from([0.0, 1e-4, 3e-3, 0.05]), seed=st.integers(0, 2**16),
       dtype=st.sampled_from([torch.float32, torch.float64]))
def test_zero_out_is_strictly_below_the_threshold(threshold, seed, dtype):
    """zero_out's one-pass form zeroes exactly what masked_fill(|w| < t) zeroes, at the edges
    (t and its neighbours in the parameter's dtype) and for inf and NaN."""
    torch.manual_seed(seed)
    model = _classifier(hidden=(5, 3), n_in=4, n_out=3).to(dtype)
    t = torch.tensor(threshold, dtype=dtype)
    edges = [t, torch.nextafter(t, torch.zeros_like(t)), torch.nextafter(t, t + 1),
             torch.tensor(float("inf"), dtype=dtype), torch.tensor(float("nan"), dtype=dtype)]
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(torch.rand_like(p) * 4 * max(threshold, 1e-3))
            flat = p.view(-1)
            for i, e in enumerate(edges[: flat.numel() // 2]):
                flat[2 * i] = e
                flat[2 * i + 1] = -e
    want = {n: p.detach().clone() for n, p in model.named_parameters()}
    grouped = {n for comp in iss_groups(model) for n in comp.entries}
    for n, w in want.items():
        if n in grouped:
            w.masked_fill_(w.abs() < threshold, 0.0)
    zero_out(model, threshold)
    for n, p in model.named_parameters():
        assert torch.equal(p.isnan(), want[n].isnan()), n
        assert torch.equal(p.nan_to_num(), want[n].nan_to_num()), n
