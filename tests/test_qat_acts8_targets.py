"""`--acts 8` (8-bit inputs and h) on the C target: bit-exact with golden on the host and on
Cortex-M4 (QEMU), for random IRs and for a trained SHS model quantized with --acts 8 and QAT.

The generated C keeps activation codes in int16 storage today; the numbers (every rescale to
the 8-bit formats, the SHS threshold, zero-skipping) must still equal golden exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from lstmgen import golden
from lstmgen.ir import Model
from lstmgen.quant import checkpoint_net, quantize_inputs, quantize_net
from lstmgen.testing import random_inputs, random_model
from lstmgen.train import default_config, train


def _check(runner, model: Model, inputs: np.ndarray, workdir: Path) -> None:
    got = runner.run(model, inputs, workdir, dump=True)
    want = golden.run(model, inputs, dump=True)
    np.testing.assert_array_equal(got.outputs, want.outputs, err_msg="outputs")
    assert got.dump is not None
    for li, (g, w) in enumerate(zip(got.dump, want.layers)):
        np.testing.assert_array_equal(g["h"], w["h"], err_msg=f"layer {li} h")
        np.testing.assert_array_equal(g["c"], w["c"], err_msg=f"layer {li} c")


CASES = [  # seed, kind, hidden, weight bits, shs
    (0, "classifier", (9,), 8, True), (1, "classifier", (5, 7), 16, True),
    (2, "lm", (6,), 8, False), (3, "classifier", (1, 4), 8, None),
    (4, "lm", (5, 3), 16, True), (5, "classifier", (16, 16), 16, False),
    (6, "classifier", (3,), 16, True), (7, "lm", (8, 2), 8, True),
]


def _random(seed, kind, hidden, wb, shs) -> tuple[Model, np.ndarray]:
    model = random_model(300 + seed, kind=kind, hidden=hidden, n_in=2 + seed % 4, weight_bits=wb,
                         act_bits=8, shs=shs, name=f"a8_{seed}")
    assert all(la.h_fmt.bits == 8 for la in model.layers) and model.input_fmt.bits == 8
    return model, random_inputs(model, 7, 9, seed)


@pytest.mark.cc
@pytest.mark.parametrize("seed,kind,hidden,wb,shs", CASES)
def test_acts8_random_irs_bit_exact_on_host_c(tmp_path, seed, kind, hidden, wb, shs):
    from lstmgen.verify.cpu import CpuRunner

    _check(CpuRunner(), *_random(seed, kind, hidden, wb, shs), tmp_path)


@pytest.mark.qemu
@pytest.mark.parametrize("seed,kind,hidden,wb,shs", CASES[:5])
def test_acts8_random_irs_bit_exact_on_cortex_m4(tmp_path, seed, kind, hidden, wb, shs):
    from lstmgen.verify.qemu import QemuRunner

    _check(QemuRunner(cpu="cortex-m4"), *_random(seed, kind, hidden, wb, shs), tmp_path)


@pytest.fixture(scope="module")
def trained_acts8(tmp_path_factory) -> tuple[Model, np.ndarray]:
    """A 2x12 SHS digits model, fine-tuned one epoch with QAT (int8 weights and activations),
    quantized from its checkpoint with the formats QAT fixed."""
    from lstmgen.checkpoint import load_checkpoint
    from lstmgen.data import load_digits_split
    from lstmgen.nn.qat import QatSpec

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        out = tmp_path_factory.mktemp("acts8")
        train(default_config("default", hidden=(12, 12), epochs=6, shs_threshold=0.3,
                             shs_lambda=1e-4), out / "f", progress=False)
        train(default_config("default", qat=True, init_from=str(out / "f" / "last.pt"),
                             qat_weight_bits=8, qat_act_bits=8, epochs=1, lr=1e-3),
              out / "q", progress=False)
    finally:
        torch.set_num_threads(n)
    ckpt = load_checkpoint(out / "q" / "last.pt")
    spec = QatSpec.from_json(ckpt.meta["qat"])
    d = load_digits_split()
    model = quantize_net(checkpoint_net(ckpt), d.x_train[:512], spec.options, name="digits8",
                         act_formats=spec.act)
    assert model.input_fmt.bits == 8 and model.layers[0].o_threshold is not None
    return model, quantize_inputs(model, d.x_val[:40])


@pytest.mark.cc
def test_acts8_trained_shs_model_bit_exact_on_host_c(tmp_path, trained_acts8):
    from lstmgen.verify.cpu import CpuRunner

    model, x = trained_acts8
    assert np.mean(golden.run(model, x, dump=True).layers[0]["h"] == 0) > 0.05
    _check(CpuRunner(), model, x, tmp_path)


@pytest.mark.qemu
def test_acts8_trained_shs_model_bit_exact_on_cortex_m4(tmp_path, trained_acts8):
    from lstmgen.verify.qemu import QemuRunner

    _check(QemuRunner(cpu="cortex-m4"), *trained_acts8, tmp_path)
