"""Shared test helpers: tool requirements by tier and the golden-snapshot refresh flag."""

from __future__ import annotations

import pytest

from lstmgen.testing import require_tool

__all__ = ["require_tool"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite the golden snapshots under tests/golden/ (same as LSTMGEN_UPDATE_GOLDEN=1)",
    )


@pytest.fixture
def tiny_ptb(tmp_path):
    """A PTB-format directory with a tiny random corpus (vocabulary of 12 words)."""
    import random

    rng = random.Random(0)
    words = [f"w{i}" for i in range(11)] + ["<unk>"]
    root = tmp_path / "ptb"
    root.mkdir()
    for split, lines in (("train", 120), ("valid", 20), ("test", 20)):
        text = "\n".join(" ".join(rng.choices(words, k=rng.randint(3, 9))) for _ in range(lines))
        (root / f"ptb.{split}.txt").write_text(" ".join(words) + "\n" + text + "\n")
    return root


@pytest.fixture
def torch_one_thread():
    """Run torch on one thread: tiny models train faster and don't fight parallel workers."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
