"""The algorithmic tasks of the tLSTM paper (lstmgen.data.algorithmic): the stated encoding."""

from __future__ import annotations

import numpy as np
import pytest

from lstmgen.data.algorithmic import (
    DELIMITER,
    addition,
    decode_addition,
    generate,
    memorization,
    score,
    sequence_length,
    vocab_size,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("n", [1, 2, 3, 15])
def test_addition_encoding(n: int) -> None:
    b = addition(200, n, np.random.default_rng(n))
    T = 3 * n + 4
    assert b.inputs.shape == b.targets.shape == b.mask.shape == (200, T) == (200, sequence_length(
        "addition", n))
    assert b.inputs.max() <= 10 and b.targets.max() <= 10
    for inp, tgt, mask in zip(b.inputs, b.targets, b.mask):
        s = decode_addition(inp)
        assert s[0] == s[n + 1] == "-" and s[2 * n + 2:] == "-" * (n + 2)
        a_, b_ = int(s[1:n + 1]), int(s[n + 2:2 * n + 2])  # most significant digit first
        t = decode_addition(tgt)
        assert t[:2 * n + 2] == "-" * (2 * n + 2) and t[-1] == "-"
        assert int(t[2 * n + 2:3 * n + 3]) == a_ + b_  # n + 1 digits, leading 0 if no carry
        assert np.flatnonzero(mask).tolist() == list(range(2 * n + 2, 3 * n + 3))


def test_addition_paper_example() -> None:
    """The paper's 3-digit example, - 1 2 3 - 9 0 0 - - - - - -> - - - - - - - - 1 0 2 3 -:
    a generator whose digits come out as 1 2 3 and 9 0 0 gives exactly that."""

    class Fixed:
        def __init__(self) -> None:
            self.calls = iter([np.array([[1, 2, 3]]), np.array([[9, 0, 0]])])

        def integers(self, lo, hi, size):
            return next(self.calls)

    b = addition(1, 3, Fixed())  # type: ignore[arg-type]
    assert decode_addition(b.inputs[0]) == "-123-900-----"
    assert decode_addition(b.targets[0]) == "--------1023-"


@pytest.mark.parametrize("n", [1, 5, 20])
def test_memorization_encoding(n: int) -> None:
    b = memorization(100, n, np.random.default_rng(n))
    assert b.inputs.shape == (100, 2 * n + 2) and vocab_size("memorization") == 65
    assert np.array_equal(b.inputs[:, 1:n + 1], b.targets[:, n + 1:2 * n + 1])
    assert (b.inputs[:, 1:n + 1] >= 1).all() and (b.inputs[:, 1:n + 1] <= 64).all()
    assert (b.inputs[:, n + 1:] == DELIMITER).all() and (b.inputs[:, 0] == DELIMITER).all()
    assert b.mask.sum(axis=1).tolist() == [n] * 100


def test_generate_is_deterministic_and_scored() -> None:
    a, b = generate("addition", 10, 4, [1, 2, 3]), generate("addition", 10, 4, [1, 2, 3])
    assert np.array_equal(a.inputs, b.inputs)
    assert not np.array_equal(a.inputs, generate("addition", 10, 4, [1, 2, 4]).inputs)
    s = score(a.targets, a)
    assert s == {"seq_acc": 1.0, "token_acc": 1.0}
    wrong = a.targets.copy()
    wrong[0, np.flatnonzero(a.mask[0])[0]] += 1
    wrong[1, 0] = 5  # outside the answer: no effect
    s = score(wrong, a)
    assert s["seq_acc"] == 0.9 and s["token_acc"] == pytest.approx(1 - 1 / a.mask.sum())
    with pytest.raises(ValueError, match="unknown algorithmic task"):
        generate("copy", 1, 1, 0)
    with pytest.raises(ValueError, match="digits"):
        addition(1, 0, np.random.default_rng(0))
