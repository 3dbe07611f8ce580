"""Property tests: the generated C equals the golden model on random networks (>= 200 per run).

Every example builds one network with the strict -O2 flags and compares every output code and
the per-step h and c of every layer with :mod:`lstmgen.golden`, exactly.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from conftest import require_tool
from hypothesis import HealthCheck, given, settings
from strategies import model_and_inputs

from lstmgen import golden
from lstmgen.ir import Model
from lstmgen.verify.cpu import CpuRunner

pytestmark = pytest.mark.cc

_SETTINGS = {
    "deadline": None,
    "derandomize": True,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}


def _check(model: Model, inputs: np.ndarray) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        got = CpuRunner().run(model, inputs, Path(tmp), dump=True)
    want = golden.run(model, inputs, dump=True)
    np.testing.assert_array_equal(got.outputs, want.outputs, err_msg="outputs")
    assert got.dump is not None
    for li, (g, w) in enumerate(zip(got.dump, want.layers)):
        np.testing.assert_array_equal(g["h"], w["h"], err_msg=f"layer {li} h")
        np.testing.assert_array_equal(g["c"], w["c"], err_msg=f"layer {li} c")


@settings(max_examples=60, **_SETTINGS)
@given(case=model_and_inputs(kinds=("classifier",), max_hidden=9, max_in=5))
def test_small_classifier_matches_golden(case: tuple[Model, np.ndarray]) -> None:
    """Tiny and odd sizes (hidden and inputs down to 1)."""
    require_tool("gcc")
    _check(*case)


@settings(max_examples=45, **_SETTINGS)
@given(case=model_and_inputs(kinds=("classifier",)))
def test_classifier_matches_golden(case: tuple[Model, np.ndarray]) -> None:
    require_tool("gcc")
    _check(*case)


@settings(max_examples=55, **_SETTINGS)
@given(case=model_and_inputs(kinds=("lm",)))
def test_lm_matches_golden(case: tuple[Model, np.ndarray]) -> None:
    require_tool("gcc")
    _check(*case)


@settings(max_examples=45, **_SETTINGS)
@given(case=model_and_inputs(shs=True, max_steps=10))
def test_sparse_h_matches_golden(case: tuple[Model, np.ndarray]) -> None:
    """Every layer has an SHS threshold: h is sparse and zero-skipping is exercised."""
    require_tool("gcc")
    _check(*case)
