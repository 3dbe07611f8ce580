"""``--acc 32``: weight formats coarsened until every accumulator fits int32
(:func:`lstmgen.quant.quantize.fit_accumulators`), the bound proven by the plan and exercised at
the format extremes on host C, the Cortex-M4 DSP kernels (SMLAD) and the Cortex-M55 (VMLADAVA).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from lstmgen import golden, ir
from lstmgen.cli import main
from lstmgen.ir import Gate, IntTensor, Model
from lstmgen.plan import INT32_MAX
from lstmgen.quant import QuantOptions, quantize_net
from lstmgen.quant.floatref import FloatNet
from lstmgen.quant.quantize import fit_accumulators
from lstmgen.targets.c import CTarget, render
from lstmgen.testing import random_model


def _fits(model: Model) -> bool:
    plan = model.plan
    sites = [s.pre for lp in plan.layers for s in lp.gates.values()] + [plan.head.out]
    return all(s.fits32 for s in sites) and all(lp.acc_bits <= 32 for lp in plan.layers) \
        and plan.head.acc.bits <= 32  # fits32: the bound and the rounding addend, in int32


@pytest.mark.unit
@pytest.mark.parametrize("seed,n_in,hidden,wbits", [(0, 128, (128,), 16), (1, 32, (64, 32), 16),
                                                    (2, 300, (7,), 16), (3, 5, (3,), 8),
                                                    (4, 200, (40,), 8)])
def test_every_accumulator_fits_int32_after_fitting(seed, n_in, hidden, wbits) -> None:
    model = random_model(seed, n_in=n_in, hidden=hidden, weight_bits=wbits, shs=False)
    fitted = fit_accumulators(model)
    assert _fits(fitted)
    for la, lb in zip(model.layers, fitted.layers):  # only fraction bits were dropped
        for (_, g), (_, h) in zip(la.gates(), lb.gates()):
            for t, u in ((g.w_ih, h.w_ih), (g.w_hh, h.w_hh)):
                assert u.fmt.bits == t.fmt.bits and u.fmt.frac <= t.fmt.frac
        assert (lb.in_fmt, lb.h_fmt, lb.c_fmt) == (la.in_fmt, la.h_fmt, la.c_fmt)
    if _fits(model):
        assert fitted is model


@pytest.mark.unit
def test_fitting_cuts_the_finer_product_not_the_coarser() -> None:
    """Cutting the product that does not set the accumulator's fraction only raises its
    alignment shift; the fitted bound is within a factor 2 of the limit (one bit at a time)."""
    model = random_model(1000 + 128 + 128, n_in=128, hidden=(128,), weight_bits=16, shs=False)
    assert model.plan.layers[0].acc_bits > 32
    fitted = fit_accumulators(model)
    for s in fitted.plan.layers[0].gates.values():
        assert s.acc.bound > INT32_MAX // 4  # no bit dropped needlessly
    cut = [g.w_ih.fmt.frac - h.w_ih.fmt.frac for (_, g), (_, h)
           in zip(model.layers[0].gates(), fitted.layers[0].gates())]
    assert max(cut) < 12


@pytest.mark.unit
def test_the_generated_c_accumulates_in_int32() -> None:
    fitted = fit_accumulators(random_model(7, n_in=64, hidden=(48,), weight_bits=16, shs=False))
    for cpu in ("generic", "cortex-m4", "cortex-m55"):
        text = render(fitted, CTarget(cpu=cpu))["net.c"]
        assert "lg_mv_set_w16_a32" in text and ("lg_mv_nz_set_w16_a32" in text
                                                 or "lg_mv_nz_w16_a32" in text)
        assert "_a64" not in text and "int64_t" not in text.split("void net_reset")[1]


def _extreme(seed: int = 11) -> tuple[Model, np.ndarray]:
    """A 16-bit model whose gate-i row 0 of W_ih is the most negative code everywhere, fitted;
    and inputs whose first step is the most negative input code everywhere: that row's
    W_ih·x reaches its worst-case bound exactly (in int32: the bound is INT32_MAX-sized)."""
    base = random_model(seed, n_in=40, hidden=(6,), weight_bits=16, shs=True)
    la = base.layers[0]
    w = np.array(la.i.w_ih.values)
    w[0] = la.i.w_ih.fmt.min_code
    layer = dataclasses.replace(la, i=Gate(IntTensor(w, la.i.w_ih.fmt, name="w"), la.i.w_hh,
                                           la.i.bias))
    model = base.replace(layers=(layer,))
    assert model.plan.layers[0].acc_bits > 32
    fitted = fit_accumulators(model)
    rng = np.random.default_rng(seed)
    f = fitted.input_fmt
    x = rng.integers(f.min_code, f.max_code + 1, size=(3, 6, fitted.n_in))
    x[:, 0, :] = f.min_code
    return fitted, x


@pytest.mark.unit
def test_the_extreme_reaches_the_bound() -> None:
    model, x = _extreme()
    site = model.plan.layers[0].gates["i"]
    trace: dict = {}
    golden.layer_step(model, 0, x[:, 0], golden.initial_state(model, x.shape[0])[0], trace=trace)
    assert int(trace["mv_x/i"][0, 0]) == site.mv_x.bound  # the kernel's int32 sum at its bound
    assert site.mv_x.bound << site.acc.shift_x <= INT32_MAX
    assert site.mv_x.bound > 2 ** 29


def _check(runner, model: Model, x: np.ndarray, workdir: Path) -> None:
    got = runner.run(model, x, workdir, dump=True)
    want = golden.run(model, x, dump=True)
    np.testing.assert_array_equal(got.outputs, want.outputs)
    assert got.dump is not None
    for g, w in zip(got.dump, want.layers):
        np.testing.assert_array_equal(g["h"], w["h"])
        np.testing.assert_array_equal(g["c"], w["c"])


@pytest.mark.cc
def test_extreme_bit_exact_on_host_c(tmp_path: Path) -> None:
    from lstmgen.verify.cpu import CpuRunner

    _check(CpuRunner(), *_extreme(), tmp_path)


@pytest.mark.qemu
@pytest.mark.parametrize("cpu", ["cortex-m4", "cortex-m55"])
def test_extreme_bit_exact_on_mcu(tmp_path: Path, cpu: str) -> None:
    from lstmgen.verify.qemu import QemuRunner

    _check(QemuRunner(cpu=cpu), *_extreme(), tmp_path)


# ---- the quantizer option -------------------------------------------------------------------


def _float_net(seed: int, n_in: int, hidden: int) -> FloatNet:
    import torch

    torch.manual_seed(seed)
    lstm = torch.nn.LSTM(n_in, hidden, num_layers=2, batch_first=True)
    lin = torch.nn.Linear(hidden, 3)
    sd = {f"lstm.{k}": v.detach().numpy() * 4 for k, v in lstm.state_dict().items()}
    sd.update({f"head.{k}": v.detach().numpy() for k, v in lin.state_dict().items()})
    return FloatNet.from_state_dict("classifier", 2, sd)


@pytest.mark.unit
def test_quantizer_option_fits_and_stays_close() -> None:
    net = _float_net(0, 24, 64)
    calib = np.random.default_rng(0).normal(0, 2, size=(16, 10, 24))
    plain = quantize_net(net, calib, QuantOptions(weight_bits=16), name="p")
    acc32 = quantize_net(net, calib, QuantOptions(weight_bits=16, acc_bits=32), name="p")
    assert not _fits(plain) and _fits(acc32)
    x = golden.check_inputs(plain, np.clip(np.rint(calib * 2 ** plain.input_fmt.frac),
                                           -32768, 32767).astype(np.int64))
    a = golden.run(plain, x).outputs.astype(np.float64) * 2.0 ** -plain.head.out_fmt.frac
    b = golden.run(acc32, x).outputs.astype(np.float64) * 2.0 ** -acc32.head.out_fmt.frac
    assert np.abs(a - b).max() < 0.05 * max(np.abs(a).max(), 1e-3)
    with pytest.raises(Exception, match="--acc"):
        QuantOptions(acc_bits=16)


@pytest.mark.unit
def test_quantize_cli_acc32(tmp_path: Path) -> None:
    from lstmgen.checkpoint import save_checkpoint
    from lstmgen.train import train_default

    ckpt, _ = train_default(hidden=(16, 16), epochs=2, seed=0, progress=False)
    path = tmp_path / "d.pt"
    save_checkpoint(ckpt, path)
    out = tmp_path / "m.lstmir"
    res = CliRunner().invoke(main, ["quantize", str(path), "--out", str(out), "--task", "default",
                                    "--acc", "32", "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.output.strip().splitlines()[-1])
    assert "golden_accuracy" in info
    assert _fits(ir.load(out))
    bad = CliRunner().invoke(main, ["quantize", str(path), "--out", str(out), "--acc", "16"])
    assert bad.exit_code != 0
