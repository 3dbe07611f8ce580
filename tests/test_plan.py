"""The arithmetic plan (``lstmgen.plan``): every value golden computes lies within its site's
bound, every width is minimal for its bound, and the facts back ends read (32-bit exactness,
the fused cell form) are true of the numbers, checked on random IRs with random and extreme
inputs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import models

from lstmgen import golden
from lstmgen.fixedpoint import bits_for_bound, rescale, shift_round
from lstmgen.ir import GATES
from lstmgen.plan import INT32_MAX, INT32_MIN, Rescale, derive, fits32
from lstmgen.testing import random_inputs

pytestmark = pytest.mark.unit


def _extreme_inputs(model, n: int, steps: int, seed: int) -> np.ndarray:
    """Random inputs where half the sequences hold only the format's end codes (both signs)."""
    x = random_inputs(model, n, steps, seed=seed)
    if model.is_lm:
        return x
    rng = np.random.default_rng(seed)
    f = model.input_fmt
    ends = rng.choice([f.min_code, f.max_code], size=x[: n // 2].shape)
    x[: n // 2] = ends
    return x


def _traces(model, inputs: np.ndarray) -> tuple[list[dict[str, list]], dict[str, list]]:
    """Every intermediate of golden over the whole run, per layer and for the head."""
    arr = golden.check_inputs(model, inputs)
    state = golden.initial_state(model, arr.shape[0])
    layers: list[dict[str, list]] = [{} for _ in model.layers]
    head: dict[str, list] = {}
    for t in range(arr.shape[1]):
        v = model.embedding.values[arr[:, t]] if model.is_lm else arr[:, t]
        new = []
        for li in range(len(model.layers)):
            tr: dict[str, np.ndarray] = {}
            st_ = golden.layer_step(model, li, v, state[li], x_is_hidden=li > 0, trace=tr)
            for k, a in tr.items():
                layers[li].setdefault(k, []).append(a)
            new.append(st_)
            v = st_.h
        state = new
        tr = {}
        golden.head(model.head, v, trace=tr)
        for k, a in tr.items():
            head.setdefault(k, []).append(a)
    return layers, head


def _peak(values: list[np.ndarray]) -> int:
    return max(int(np.abs(a).max(initial=0)) for a in values)


def _minimal(bound: int, bits: int) -> None:
    """``bits`` holds ``[-bound, bound]`` and one bit less does not (a 1-bit width holds only
    0, so bound 0 needs 1 bit)."""
    assert -(1 << (bits - 1)) <= -bound and bound <= (1 << (bits - 1)) - 1
    if bound > 0:
        assert bound > (1 << (bits - 2)) - 1


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(model=models(max_hidden=12, max_in=10), seed=st.integers(0, 2**31 - 1))
def test_every_observed_value_is_within_its_sites_bound(model, seed) -> None:
    plan = model.plan
    inputs = _extreme_inputs(model, 6, 5, seed)
    layers, head = _traces(model, inputs)
    for lp, tr in zip(plan.layers, layers):
        for g in GATES:
            s = lp.gates[g]
            assert _peak(tr[f"mv_x/{g}"]) <= s.mv_x.bound
            assert _peak(tr[f"mv_h/{g}"]) <= s.mv_h.bound
            assert _peak(tr[f"acc/{g}"]) <= s.acc.bound == s.pre.in_bound
            assert s.acc.bound <= lp.acc_bound
        assert _peak(tr["cell"]) <= lp.cell.sum_bound
        assert _peak(tr["tanh_in"]) <= lp.tanh_in.in_bound
        assert _peak(tr["h"]) <= lp.h.in_bound
    assert _peak(head["mv"]) <= plan.head.mv.bound
    assert _peak(head["acc"]) <= plan.head.acc.bound


_WIDTHS = (("bound", "bits"), ("in_bound", "in_bits"), ("interp_bound", "interp_bits"),
           ("sum_bound", "sum_bits"), ("fc_bound", "fc_bits"), ("ig_bound", "ig_bits"))


@settings(max_examples=40, deadline=None)
@given(model=models(max_hidden=12, max_in=10))
def test_every_width_is_minimal_for_its_bound(model) -> None:
    plan = model.plan
    checked = 0
    for name, site in plan.sites():
        for b_attr, w_attr in _WIDTHS:
            if hasattr(site, b_attr) and hasattr(site, w_attr):
                bound, bits = getattr(site, b_attr), getattr(site, w_attr)
                assert bits == bits_for_bound(bound), name
                _minimal(bound, bits)
                checked += 1
    assert checked >= 10 * len(plan.layers)
    for lp in plan.layers:
        assert lp.acc_bits == max(s.acc.bits for s in lp.gates.values())


@settings(max_examples=200, deadline=None)
@given(bound=st.integers(0, 1 << 40), shift=st.integers(-40, 40), bits=st.sampled_from([8, 16, 32]))
def test_rescale_facts_hold_for_the_extreme_operands(bound, shift, bits) -> None:
    """``fits32``: the operand and rounding addend (or the shifted value) stay in int32 for every
    |x| <= bound; ``result_fits32``: the shifted value does; ``out_bound``/``saturates`` match
    the rescale of the extreme operands; ``round_bits`` holds operand + addend."""
    site = Rescale("s", bound, shift, bits)
    xs = np.array([-bound, -bound + 1, -1, 0, 1, bound - 1, bound], dtype=object)
    xs = np.array([int(v) for v in xs if -bound <= v <= bound], dtype=np.int64)
    shifted = [int(shift_round(int(v), shift)) for v in xs] if abs(shift) < 63 else []
    if site.fits32:
        addend = (1 << (shift - 1)) if shift > 0 else 0
        for v in xs:
            assert INT32_MIN <= int(v) + addend <= INT32_MAX
        for r in shifted:
            assert INT32_MIN <= r <= INT32_MAX
    if site.result_fits32:
        assert all(INT32_MIN <= r <= INT32_MAX for r in shifted)
    if shifted and bound < (1 << 40) >> max(0, -shift):
        lo, hi = site.shifted_range
        assert min(shifted) == lo and max(shifted) == hi
        out = [int(rescale(int(v), shift, bits)) for v in xs]
        assert max(abs(o) for o in out) <= site.out_bound
        assert site.saturates == (lo < -(1 << (bits - 1)) or hi > (1 << (bits - 1)) - 1)
    if shift > 0:
        assert bound + (1 << (shift - 1)) <= (1 << (site.round_bits - 1)) - 1
    assert fits32(bound, shift) == (site.fits32 if bits <= 32 else fits32(bound, shift))


@settings(max_examples=60, deadline=None)
@given(model=models(max_hidden=8, max_in=6), seed=st.integers(0, 2**31 - 1))
def test_fused_cell_form_equals_the_cell_rescale(model, seed) -> None:
    """Where the plan offers the fused form, rescale(T1 + (T0 >> k), s_c - k) equals the cell
    rescale for every product golden produced and for the products' extremes."""
    rng = np.random.default_rng(seed)
    for la, lp in zip(model.layers, model.plan.layers):
        cell = lp.cell
        if cell.fused is None:
            continue
        sb = model.sigmoid.out_fmt.bits
        ends = [-(1 << (sb - 1)), (1 << (sb - 1)) - 1]
        f = np.array(ends + list(rng.integers(ends[0], ends[1] + 1, 50)), dtype=np.int64)
        c = np.array([la.c_fmt.min_code, la.c_fmt.max_code] + list(
            rng.integers(la.c_fmt.min_code, la.c_fmt.max_code + 1, 50)), dtype=np.int64)
        fc = (f[:, None] * c[None, :]).ravel()
        ig = (f[:, None] * f[None, :]).ravel()[: fc.size]
        ig = np.resize(ig, fc.shape)
        want = rescale((fc << cell.s_fc) + (ig << cell.s_ig), cell.rescale.shift, la.c_fmt.bits)
        t1, t0 = (fc, ig) if cell.fused.shifted == "fc" else (ig, fc)
        got = rescale(t1 + (t0 >> cell.fused.k), cell.fused.rescale.shift, la.c_fmt.bits)
        np.testing.assert_array_equal(got, want)


def test_plan_is_frozen_and_derived_once() -> None:
    from lstmgen.testing import random_model

    m = random_model(3, hidden=(4, 3))
    assert m.plan is m.plan
    assert derive(m) == m.plan
    with pytest.raises(AttributeError):
        m.plan.layers[0].index = 5  # type: ignore[misc]
    with pytest.raises(TypeError):
        m.plan.layers[0].gates["i"] = None  # type: ignore[index]


@pytest.mark.parametrize("shift", [1, 2, 7, 15, 16, 30, 31])
def test_fits32_at_the_exact_boundary(shift) -> None:
    """The largest operand whose rounding addend still fits int32 fits; one more does not; a
    left shift fits exactly while the shifted value stays in range."""
    top = INT32_MAX - (1 << (shift - 1))
    assert fits32(top, shift) and not fits32(top + 1, shift)
    assert Rescale("s", top, shift, 16).fits32 and not Rescale("s", top + 1, shift, 16).fits32
    left = INT32_MAX >> shift
    if shift <= 30:
        assert fits32(left, -shift) and not fits32(left + 1, -shift)
    assert not fits32(1, 32) and not fits32(1, -31)
