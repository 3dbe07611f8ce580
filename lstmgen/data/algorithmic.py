"""The tLSTM paper's algorithmic tasks (He et al., NIPS 2017, §4.2, after Kalchbrenner et al.'s
Grid LSTM), generated in code: addition of two integers and memorization of random symbols.

Both are sequence-to-sequence tasks on token ids, read one token per step, with an output at
every step; only the answer positions carry a loss. The exact encoding:

* token 0 is ``-``: the delimiter, the filler of the input after the operands and of the
  target outside the answer, and the padding token read after the end of a sequence (a tLSTM's
  ``L - 1`` delay steps);
* **addition** (``digits`` = n, the paper's 15): token ``1 + d`` is the digit ``d``
  (vocabulary 11). Two integers ``a``, ``b`` with n uniformly random digits each (leading zeros
  allowed), *most significant digit first*, as in the paper's example ``- 1 2 3 - 9 0 0 - - - -
  -`` → ``- - - - - - - - 1 0 2 3 -``::

      input   -  a_{n-1} .. a_0  -  b_{n-1} .. b_0  -  -  ..  -        (T = 3n + 4 tokens)
      target  -  ..............................  -  s_n s_{n-1} .. s_0  -

  the n + 1 digits of ``s = a + b`` (a leading 0 when there is no carry) are the targets of
  positions ``2n + 2 .. 3n + 2``: the first one at the step that reads the third ``-``;
* **memorization** (``length`` = n, the paper's 20 symbols from ``symbols`` = 64): token
  ``1 + j`` is symbol ``j`` (vocabulary 65)::

      input   -  s_1 .. s_n  -  -  ..  -                               (T = 2n + 2 tokens)
      target  -  .........   -  s_1 .. s_n  -

  the n symbols are the targets of positions ``n + 1 .. 2n``: the first one at the step that
  reads the second ``-``.

``mask`` marks the answer positions (the only ones with a loss); a sequence counts as correct
(the paper's accuracy) when every answer position is predicted right.

>>> b = addition(1, 3, np.random.default_rng(0))
>>> b.inputs.shape, int(b.mask.sum())
((1, 13), 4)
>>> decode_addition(b.inputs[0]), decode_addition(b.targets[0])
('-865-230-----', '--------1095-')
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "ADDITION_DIGITS",
    "ADDITION_VOCAB",
    "DELIMITER",
    "MEMORIZATION_LENGTH",
    "MEMORIZATION_SYMBOLS",
    "TASKS",
    "AlgoBatch",
    "addition",
    "decode_addition",
    "generate",
    "memorization",
    "score",
    "sequence_length",
    "vocab_size",
]

#: Token 0: the delimiter, filler and padding token.
DELIMITER = 0
#: The paper's operand length (digits) of the addition task.
ADDITION_DIGITS = 15
#: Digits 0..9 plus the delimiter.
ADDITION_VOCAB = 11
#: The paper's memorization task: 20 symbols drawn from 64.
MEMORIZATION_LENGTH = 20
MEMORIZATION_SYMBOLS = 64
#: The two task names.
TASKS = ("addition", "memorization")


@dataclass(frozen=True)
class AlgoBatch:
    """Token ids ``inputs`` and ``targets`` (N, T) int64 and the answer positions ``mask``
    (N, T) bool."""

    inputs: np.ndarray
    targets: np.ndarray
    mask: np.ndarray


def _check(n: int, what: str, lo: int = 1) -> None:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < lo:
        raise ValueError(f"{what} must be an integer >= {lo}, got {n!r}")


def addition(n_seq: int, digits: int, rng: np.random.Generator) -> AlgoBatch:
    """``n_seq`` addition sequences of two ``digits``-digit integers (encoding: module docstring)."""
    _check(n_seq, "number of sequences", 0)
    _check(digits, "digits")
    n = int(digits)
    a = rng.integers(0, 10, size=(n_seq, n))
    b = rng.integers(0, 10, size=(n_seq, n))
    # the sum, digit by digit from the least significant, with its carry
    s = np.zeros((n_seq, n + 1), dtype=np.int64)
    carry = np.zeros(n_seq, dtype=np.int64)
    for j in range(n - 1, -1, -1):
        v = a[:, j] + b[:, j] + carry
        s[:, j + 1] = v % 10
        carry = v // 10
    s[:, 0] = carry
    T = 3 * n + 4
    inputs = np.zeros((n_seq, T), dtype=np.int64)
    inputs[:, 1:1 + n] = a + 1
    inputs[:, 2 + n:2 + 2 * n] = b + 1
    targets = np.zeros((n_seq, T), dtype=np.int64)
    targets[:, 2 * n + 2:3 * n + 3] = s + 1
    mask = np.zeros((n_seq, T), dtype=bool)
    mask[:, 2 * n + 2:3 * n + 3] = True
    return AlgoBatch(inputs, targets, mask)


def memorization(n_seq: int, length: int, rng: np.random.Generator,
                 symbols: int = MEMORIZATION_SYMBOLS) -> AlgoBatch:
    """``n_seq`` memorization sequences of ``length`` symbols from ``symbols`` (module docstring)."""
    _check(n_seq, "number of sequences", 0)
    _check(length, "length")
    _check(symbols, "symbols", 2)
    n = int(length)
    sym = rng.integers(0, symbols, size=(n_seq, n)) + 1
    T = 2 * n + 2
    inputs = np.zeros((n_seq, T), dtype=np.int64)
    inputs[:, 1:1 + n] = sym
    targets = np.zeros((n_seq, T), dtype=np.int64)
    targets[:, n + 1:2 * n + 1] = sym
    mask = np.zeros((n_seq, T), dtype=bool)
    mask[:, n + 1:2 * n + 1] = True
    return AlgoBatch(inputs, targets, mask)


def vocab_size(task: str) -> int:
    """Tokens of ``task``'s inputs and targets (the delimiter included)."""
    if task == "addition":
        return ADDITION_VOCAB
    if task == "memorization":
        return MEMORIZATION_SYMBOLS + 1
    raise ValueError(f"unknown algorithmic task {task!r} (choose one of {', '.join(TASKS)})")


def sequence_length(task: str, size: int) -> int:
    """Tokens per sequence of ``task`` with ``size`` digits (addition) or symbols."""
    return 3 * size + 4 if task == "addition" else 2 * size + 2


def generate(task: str, n_seq: int, size: int, seed: int | list[int]) -> AlgoBatch:
    """``n_seq`` sequences of ``task`` with operands of ``size`` digits (addition) or ``size``
    symbols (memorization), from numpy's generator seeded with ``seed`` (an integer or a list
    of them, as ``numpy.random.default_rng`` takes; deterministic)."""
    rng = np.random.default_rng(seed)
    if task == "addition":
        return addition(n_seq, size, rng)
    if task == "memorization":
        return memorization(n_seq, size, rng)
    raise ValueError(f"unknown algorithmic task {task!r} (choose one of {', '.join(TASKS)})")


def score(pred: np.ndarray, batch: AlgoBatch) -> dict[str, float]:
    """Sequence accuracy (every answer position right; the paper's figure) and the accuracy
    per answer position, of predicted ids ``pred`` (N, T)."""
    right = (np.asarray(pred) == batch.targets) | ~batch.mask
    per_pos = (np.asarray(pred) == batch.targets)[batch.mask]
    return {"seq_acc": float(right.all(axis=1).mean()) if len(right) else 0.0,
            "token_acc": float(per_pos.mean()) if per_pos.size else 0.0}


def decode_addition(tokens: np.ndarray) -> str:
    """A readable addition sequence: ``-`` for token 0, the digit for the others."""
    return "".join("-" if t == DELIMITER else str(int(t) - 1) for t in tokens)
