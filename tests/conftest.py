"""Shared test helpers: test tiers mapped to the tools they need, the golden-snapshot refresh
flag, and fixtures.

Every test carries at least one tier marker (``unit``, ``cc``, ``qemu``, ``sim``, ``hls``,
``slow``; a module-level ``pytestmark`` is fine); doctests collected from ``lstmgen/`` are
``unit``. A test without one fails. Before a test runs, the tools of all its tiers are looked up
once, here (:data:`TIER_TOOLS`): outside CI a missing tool skips the test with the reason, with
``CI=true`` it fails it (:func:`lstmgen.testing.require_tool`). Tools only some tests of a tier
use (``make``, ``cmake``, ``valgrind``, ``cppcheck``, ``arm-none-eabi-size``, ...) are required by
those tests themselves, with the same ``require_tool``.
"""

from __future__ import annotations

import os
import shutil

import pytest
from _pytest.doctest import DoctestItem

from lstmgen.testing import require_tool

__all__ = ["TIERS", "TIER_TOOLS", "require_tool", "require_tools"]

#: The tier markers (registered in pyproject.toml).
TIERS = ("unit", "cc", "qemu", "sim", "hls", "browser", "slow")

#: Tools each tier needs on PATH. An entry that is a tuple names alternatives, any one of which
#: is enough (an HDL simulation runs on Icarus Verilog or Verilator; the test picks one).
TIER_TOOLS: dict[str, tuple[str | tuple[str, ...], ...]] = {
    "unit": (),
    "cc": ("gcc",),
    "qemu": ("arm-none-eabi-gcc", "arm-none-eabi-nm", "qemu-system-arm", "gcc"),
    "sim": (("iverilog", "verilator"),),
    "hls": ("g++",),
    "browser": ("chromium",),
    "slow": (),
}

_NO_TIER = pytest.StashKey[str]()


def require_tools(*tools: str | tuple[str, ...]) -> None:
    """:func:`require_tool` for each of ``tools``; a tuple is satisfied by any one of its
    names (the message names them all)."""
    for tool in tools:
        if isinstance(tool, str):
            require_tool(tool)
        elif not any(shutil.which(t) for t in tool):
            reason = f"none of {', '.join(tool)} found on PATH"
            if os.environ.get("CI", "").lower() == "true":
                pytest.fail(f"{reason} (a missing tool is a failure in CI)")
            pytest.skip(reason)


def tiers_of(item: pytest.Item) -> list[str]:
    """The tier markers of ``item``, in :data:`TIERS` order."""
    names = {m.name for m in item.iter_markers()}
    return [t for t in TIERS if t in names]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Doctests are unit tests; a test without a tier marker is noted (it fails at setup)."""
    for item in items:
        if isinstance(item, DoctestItem):
            item.add_marker(pytest.mark.unit)
        if not tiers_of(item):
            item.stash[_NO_TIER] = (
                f"{item.nodeid} carries no tier marker: add one of {', '.join(TIERS)} "
                "(e.g. a module-level pytestmark)")


class _TierPlugin:
    """Registered once per session (so it sees every collected item, not only those under
    ``tests/``): fail an unmarked test, require the tools of a marked one."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        reason = item.stash.get(_NO_TIER, None)
        if reason is not None:
            pytest.fail(reason, pytrace=False)
        seen: list[str | tuple[str, ...]] = []
        for tier in tiers_of(item):
            seen += [t for t in TIER_TOOLS[tier] if t not in seen]
        require_tools(*seen)


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin("lstmgen-tiers"):
        config.pluginmanager.register(_TierPlugin(), "lstmgen-tiers")


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
