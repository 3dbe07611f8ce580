"""``verify`` itself: fed a target whose outputs equal golden's except one code, at every position
in turn (each vector, each step of an LM, each output unit, and each h/c entry of the dumps), it
must report exactly that position (vector, step, layer, unit, want, got) and the right count.

The comparison is what the whole product rests on; these tests need no compiler (the "target"
is golden with one code changed).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from lstmgen import golden
from lstmgen.ir import Model
from lstmgen.testing import random_inputs, random_model
from lstmgen.verify.base import Mismatch, TargetRun, verify

pytestmark = pytest.mark.unit


def _other(code: int, bits: int) -> int:
    """A different code of the same width (one step towards zero from an end)."""
    return code - 1 if code == (1 << (bits - 1)) - 1 else code + 1


class Altered:
    """A target that returns golden's results with chosen codes changed.

    ``outputs``: index tuples into the output array; ``dump``: ``(layer, what, vector, step,
    unit)`` entries of the h/c dumps (the dump is only returned when asked for).
    """

    name = "altered"

    def __init__(self, outputs=(), dump=()) -> None:
        self.outputs, self.dump, self.calls = list(outputs), list(dump), 0

    def run(self, model: Model, inputs: np.ndarray, workdir: Path, *, dump: bool = False) -> TargetRun:
        self.calls += 1
        want = golden.run(model, inputs, dump=dump)
        out = want.outputs.copy()
        for pos in self.outputs:
            out[pos] = _other(int(out[pos]), model.head.out_fmt.bits)
        layers = None
        if dump:
            layers = [{k: d[k].copy() for k in ("h", "c")} for d in want.layers]
            for li, what, v, t, u in self.dump:
                la = model.layers[li]
                bits = la.h_fmt.bits if what == "h" else la.c_fmt.bits
                layers[li][what][v, t, u] = _other(int(layers[li][what][v, t, u]), bits)
        return TargetRun(outputs=out, dump=layers)


@pytest.fixture(scope="module")
def classifier() -> tuple[Model, np.ndarray]:
    model = random_model(3, n_in=3, hidden=(3, 2), n_out=4, weight_bits=8, shs=False)
    return model, random_inputs(model, 3, 4, seed=1)


@pytest.fixture(scope="module")
def lm() -> tuple[Model, np.ndarray]:
    model = random_model(4, kind="lm", n_in=3, hidden=(3,), vocab=5, weight_bits=16, shs=False)
    return model, random_inputs(model, 3, 4, seed=2)


def test_golden_against_itself_passes(classifier, lm, tmp_path):
    for model, x in (classifier, lm):
        report = verify(model, Altered(), x, tmp_path)
        assert report.passed and report.mismatches == 0 and report.first is None
        assert report.vectors == x.shape[0]
        assert report.text() == f"[altered] PASS {x.shape[0]} vectors, 0 mismatches"


def test_every_classifier_output_code_is_located(classifier, tmp_path):
    model, x = classifier
    want = golden.run(model, x).outputs
    steps = x.shape[1]
    for v, u in itertools.product(range(x.shape[0]), range(model.n_out)):
        report = verify(model, Altered(outputs=[(v, u)]), x, tmp_path)
        expect = Mismatch(v, steps - 1, "output", None, u, int(want[v, u]),
                          _other(int(want[v, u]), model.head.out_fmt.bits))
        assert (report.mismatches, report.first) == (1, expect), (v, u, report.text())
        assert report.text().endswith(f"first mismatch: {expect}")


def test_every_lm_output_code_is_located(lm, tmp_path):
    model, x = lm
    want = golden.run(model, x).outputs
    for v, t, u in itertools.product(*(range(n) for n in want.shape)):
        report = verify(model, Altered(outputs=[(v, t, u)]), x, tmp_path)
        expect = Mismatch(v, t, "output", None, u, int(want[v, t, u]),
                          _other(int(want[v, t, u]), model.head.out_fmt.bits))
        assert (report.mismatches, report.first) == (1, expect), (v, t, u, report.text())


def test_every_h_and_c_code_is_located(classifier, tmp_path):
    """A divergence inside the network (one h or c code, with that vector's output changed too)
    is named by its layer, state, vector, step and unit."""
    model, x = classifier
    want = golden.run(model, x, dump=True)
    B, T = x.shape[:2]
    for li, la in enumerate(model.layers):
        for what, v, t, u in itertools.product(("h", "c"), range(B), range(T), range(la.n_hidden)):
            target = Altered(outputs=[(v, 0)], dump=[(li, what, v, t, u)])
            report = verify(model, target, x, tmp_path)
            code = int(want.layers[li][what][v, t, u])
            bits = la.h_fmt.bits if what == "h" else la.c_fmt.bits
            expect = Mismatch(v, t, what, li, u, code, _other(code, bits))
            assert (report.mismatches, report.first) == (1, expect), report.text()
            assert target.calls == 2  # run again with dumps to locate it


def test_mismatch_count_is_vectors_that_differ(classifier, lm, tmp_path):
    """Every differing vector counts once, however many of its codes differ; the first reported
    is the earliest step, then the lowest vector."""
    model, x = classifier
    last = model.n_out - 1
    report = verify(model, Altered(outputs=[(2, last), (2, 0), (1, last)]), x, tmp_path)
    assert report.mismatches == 2 and (report.first.vector, report.first.unit) == (1, last)
    every = [(v, last) for v in range(x.shape[0])]
    assert verify(model, Altered(outputs=every), x, tmp_path).mismatches == x.shape[0]
    model, x = lm
    last_v, last_t = x.shape[0] - 1, x.shape[1] - 1
    report = verify(model, Altered(outputs=[(last_v, 1, 0), (0, last_t, 4), (last_v, last_t, 4)]),
                    x, tmp_path)
    assert report.mismatches == 2
    assert (report.first.vector, report.first.step, report.first.unit) == (last_v, 1, 0)
    assert not report.passed and report.text().startswith("[altered] FAIL 3 vectors, 2 mismatches")
