"""The IR validator refuses a head bias of the wrong shape (one entry per output, 1-D), naming
the head and the field, for a classifier and an LM, built directly and through ``replace``."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from lstmgen.errors import IRError
from lstmgen.ir import IntTensor
from lstmgen.testing import random_model

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("kind", ["classifier", "lm"])
@pytest.mark.parametrize("shape", ["one more", "one fewer", "column", "row", "scalar"])
def test_head_bias_shape_is_checked(kind, shape):
    model = random_model(9, kind=kind, n_in=3, hidden=(4,), n_out=3, vocab=5)
    n = model.n_out
    bias = model.head.bias
    codes = {
        "one more": np.arange(n + 1),
        "one fewer": np.arange(n - 1),
        "column": np.arange(n).reshape(n, 1),
        "row": np.arange(n).reshape(1, n),
        "scalar": np.array(1),
    }[shape]
    head = dataclasses.replace(model.head, bias=IntTensor(codes, bias.fmt, name="head.bias"))
    want = rf"head: bias shape \({', '.join(map(str, codes.shape))},?\) != \({n},\)"
    with pytest.raises(IRError, match=want):
        model.replace(head=head)
    with pytest.raises(IRError, match=want):
        type(model)(name=model.name, kind=model.kind, layers=model.layers, head=head,
                    sigmoid=model.sigmoid, tanh=model.tanh, embedding=model.embedding)
    # the right shape with the same codes' format is accepted
    ok = dataclasses.replace(model.head, bias=IntTensor(np.arange(n), bias.fmt))
    assert model.replace(head=ok).head.bias.shape == (n,)
