"""Hypothesis strategies for random lstmgen IRs (any back end's property tests use them).

``models()`` draws the shape (1-3 layers, hidden 1-64 incl. odd sizes, 1-32 inputs, classifier
or LM with a small vocabulary, int8 or int16 weights, SHS threshold or not); the numbers -
weights, formats, tables, interpolation, thresholds - come from
:func:`lstmgen.testing.random_model` with a drawn seed, so every example is a valid IR.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from lstmgen.ir import Model
from lstmgen.testing import random_inputs, random_model

__all__ = ["model_and_inputs", "models"]


@st.composite
def models(
    draw: st.DrawFn,
    *,
    kinds: tuple[str, ...] = ("classifier", "lm"),
    max_layers: int = 3,
    max_hidden: int = 64,
    max_in: int = 32,
    shs: bool | None = None,
) -> Model:
    """A random valid IR; ``shs=None`` lets each layer draw whether it has an o threshold."""
    kind = draw(st.sampled_from(kinds))
    n_layers = draw(st.integers(1, max_layers))
    hidden = tuple(draw(st.lists(st.integers(1, max_hidden), min_size=n_layers, max_size=n_layers)))
    return random_model(
        draw(st.integers(0, 2**32 - 1)),
        kind=kind,
        n_in=draw(st.integers(1, max_in)),
        hidden=hidden,
        n_out=draw(st.integers(1, 8)),
        vocab=draw(st.integers(1, 12)),
        weight_bits=draw(st.sampled_from([8, 16])),
        shs=shs if shs is not None else draw(st.sampled_from([None, True, False])),
        interp=draw(st.sampled_from([None, True, False])),
    )


@st.composite
def model_and_inputs(
    draw: st.DrawFn, *, max_vectors: int = 3, max_steps: int = 6, **model_kw
) -> tuple[Model, np.ndarray]:
    """A model from :func:`models` and a few input sequences for it."""
    model = draw(models(**model_kw))
    n = draw(st.integers(1, max_vectors))
    steps = draw(st.integers(1, max_steps))
    return model, random_inputs(model, n, steps, seed=draw(st.integers(0, 2**32 - 1)))
