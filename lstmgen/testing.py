"""Random valid IRs and input vectors, for property tests of every back end and for benchmarks.

Pure numpy (no test framework needed): ``random_model(seed, ...)`` draws weights, formats,
tables and an optional SHS threshold that together satisfy every IR constraint.
"""

from __future__ import annotations

import numpy as np

from .fixedpoint import bits_for_bound
from .ir import GATES, Gate, IntTensor, Linear, LstmLayer, Model, QFormat
from .quant.tables import make_table

__all__ = ["random_inputs", "random_model", "require_tool"]


def _weights(rng: np.random.Generator, shape, bits: int, density: float) -> np.ndarray:
    hi = (1 << (bits - 1)) - 1
    sigma = float(2.0 ** rng.uniform(bits - 6, bits - 2))
    w = np.clip(np.rint(rng.normal(0.0, sigma, size=shape)), -hi - 1, hi).astype(np.int64)
    if density < 1.0:
        w[rng.random(shape) >= density] = 0
    return w


def _bias(rng: np.random.Generator, n: int, frac: int, name: str) -> IntTensor:
    codes = np.rint(rng.normal(0.0, 1.0, size=n) * 2.0**frac).astype(np.int64)
    bits = max(16, bits_for_bound(int(np.abs(codes).max(initial=0))))
    return IntTensor(codes, QFormat(min(bits, 62), frac), name=name)


def random_model(
    seed: int,
    *,
    kind: str = "classifier",
    n_in: int = 4,
    hidden: tuple[int, ...] = (8,),
    n_out: int = 3,
    vocab: int = 16,
    weight_bits: int = 16,
    shs: bool | None = None,
    interp: bool | None = None,
    name: str = "net",
    act_bits: int = 16,
    cell_bits: int | None = None,
) -> Model:
    """A random, valid IR. ``shs=None`` draws whether layers get an output-gate threshold;
    ``act_bits`` (8 or 16) is the width of the input and of every layer's ``h``; ``cell_bits``
    (16 or 32) fixes the width of every cell state (None draws it per layer; the other draws
    are the same either way, so a seed gives the same weights)."""
    if act_bits not in (8, 16):
        raise ValueError(f"act_bits must be 8 or 16, got {act_bits}")
    if cell_bits not in (None, 16, 32):
        raise ValueError(f"cell_bits must be 16 or 32, got {cell_bits}")
    narrow = 16 - act_bits  # fraction bits an 8-bit activation format has fewer
    rng = np.random.default_rng(seed)
    if interp is None:
        interp = bool(rng.integers(0, 2))
    sig_in = QFormat(16, int(rng.integers(10, 13)))
    tanh_in = QFormat(16, int(rng.integers(10, 13)))
    out15 = QFormat(16, 15)
    sigmoid = make_table(
        "sigmoid", sig_in, out15, log2_entries=int(rng.integers(4, 11)), in_range=8.0, interp=interp
    )
    tanh = make_table(
        "tanh", tanh_in, out15, log2_entries=int(rng.integers(4, 11)), in_range=4.0, interp=interp
    )
    in_fmt = QFormat(act_bits, int(rng.integers(8, 15)) - narrow)
    layers = []
    x_fmt, n_x = in_fmt, n_in
    for li, H in enumerate(hidden):
        h_fmt = QFormat(act_bits, int(rng.integers(12, 16)) - narrow)
        c_bits = int(rng.choice([16, 32]))
        if cell_bits is not None:
            c_bits = cell_bits
        c_fmt = QFormat(c_bits, int(rng.integers(8, 14)) + (c_bits - 16 if rng.random() < 0.5 else 0))
        density = float(rng.choice([1.0, 1.0, 0.7, 0.3]))
        gates = {}
        for gname in GATES:
            fw_ih = int(rng.integers(weight_bits - 4, weight_bits + 1))
            fw_hh = int(rng.integers(weight_bits - 4, weight_bits + 1))
            acc_frac = max(fw_ih + x_fmt.frac, fw_hh + h_fmt.frac)
            gates[gname] = Gate(
                w_ih=IntTensor(_weights(rng, (H, n_x), weight_bits, density),
                               QFormat(weight_bits, fw_ih), name=f"l{li}.{gname}.w_ih"),
                w_hh=IntTensor(_weights(rng, (H, H), weight_bits, density),
                               QFormat(weight_bits, fw_hh), name=f"l{li}.{gname}.w_hh"),
                bias=_bias(rng, H, acc_frac, f"l{li}.{gname}.bias"),
            )
        use_shs = bool(rng.integers(0, 2)) if shs is None else shs
        thr = int(rng.integers(8000, 30000)) if use_shs else None
        layers.append(LstmLayer(in_fmt=x_fmt, c_fmt=c_fmt, h_fmt=h_fmt, o_threshold=thr, **gates))
        x_fmt, n_x = h_fmt, H
    w_head_frac = int(rng.integers(weight_bits - 4, weight_bits + 1))
    head = Linear(
        weight=IntTensor(_weights(rng, (n_out, n_x), weight_bits, 1.0),
                         QFormat(weight_bits, w_head_frac), name="head.weight"),
        bias=_bias(rng, n_out, w_head_frac + x_fmt.frac, "head.bias"),
        in_fmt=x_fmt,
        out_fmt=QFormat(16, int(rng.integers(6, 13))),
    )
    embedding = None
    if kind == "lm":
        embedding = IntTensor(
            np.rint(rng.normal(0, 2.0 ** (in_fmt.frac - 1), size=(vocab, n_in))).clip(in_fmt.min_code, in_fmt.max_code).astype(np.int64),
            in_fmt, name="embedding",
        )
        head = Linear(
            weight=IntTensor(_weights(rng, (vocab, n_x), weight_bits, 1.0),
                             QFormat(weight_bits, w_head_frac), name="head.weight"),
            bias=_bias(rng, vocab, w_head_frac + x_fmt.frac, "head.bias"),
            in_fmt=x_fmt,
            out_fmt=head.out_fmt,
        )
    return Model(
        name=name, kind=kind, layers=tuple(layers), head=head, sigmoid=sigmoid, tanh=tanh,
        embedding=embedding, meta={"source": f"lstmgen.testing.random_model(seed={seed})"},
    )


def random_inputs(model: Model, n: int, steps: int, seed: int = 0) -> np.ndarray:
    """``n`` random sequences of ``steps`` steps: codes (n, T, n_in), or token ids (n, T) for an LM.

    Classifier inputs mix moderate values with occasional extremes (both saturation ends).
    """
    rng = np.random.default_rng(seed)
    if model.is_lm:
        return rng.integers(0, model.vocab, size=(n, steps), dtype=np.int64)
    f = model.input_fmt
    x = np.rint(rng.normal(0.0, 2.0**f.frac, size=(n, steps, model.n_in)))
    extreme = rng.random(x.shape) < 0.02
    x[extreme] = rng.choice([f.min_code, f.max_code], size=int(extreme.sum()))
    return np.clip(x, f.min_code, f.max_code).astype(np.int64)


def require_tool(name: str) -> str:
    """Path of executable ``name`` for a test that drives it: outside CI a missing tool skips
    the test with the reason; with ``CI=true`` it fails it (a missing tool is a failure in CI)."""
    import os
    import shutil

    import pytest

    path = shutil.which(name)
    if path is None:
        reason = f"{name} not found on PATH"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason} (a missing tool is a failure in CI)")
        pytest.skip(reason)
    return path
