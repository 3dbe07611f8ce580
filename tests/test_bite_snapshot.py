"""Byte snapshots of the DSP weight layouts (``lg_dsp.h``'s blocks of input-pair words) for both
weight widths: ``tests/golden/c_tiny_m4`` (test_c_target.py) holds the int8 layout; the int16 one is
here (``tests/golden/c_tiny16_m4``: odd input count, so the zero-padded pair is in it too).
Refresh with ``--update-golden`` (or LSTMGEN_UPDATE_GOLDEN=1) like the other snapshots.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest

from lstmgen.ir import Model
from lstmgen.targets.c import CTarget, render
from lstmgen.testing import random_model

pytestmark = pytest.mark.unit

GOLDEN = Path(__file__).parent / "golden"


def _tiny16() -> Model:
    return random_model(5, hidden=(3,), n_in=3, n_out=2, weight_bits=16, shs=True, interp=True,
                        name="tiny16")


def _array(text: str, name: str) -> tuple[str, np.ndarray]:
    """C type and flattened values of ``static const <type> <name>[..] = {...};``."""
    m = re.search(rf"static const (\w+) {name}\[[^=]*= \{{(.*?)\n\}};", text, re.DOTALL)
    assert m is not None, name
    body = re.sub(r"/\*.*?\*/", "", m[2], flags=re.DOTALL)
    return m[1], np.array([int(v) for v in re.findall(r"-?\d+", body)], dtype=np.int64)


def test_int16_dsp_layout_snapshot(request: pytest.FixtureRequest) -> None:
    files = render(_tiny16(), CTarget(cpu="cortex-m4"))
    d = GOLDEN / "c_tiny16_m4"
    path = d / "tiny16.c"
    if os.environ.get("LSTMGEN_UPDATE_GOLDEN") == "1" or request.config.getoption("--update-golden"):
        d.mkdir(parents=True, exist_ok=True)
        path.write_text(files["tiny16.c"], encoding="utf-8")
    assert files["tiny16.c"] == path.read_text(encoding="utf-8"), f"{path} differs (refresh?)"


@pytest.mark.parametrize(("snapshot", "prefix", "ctype"),
                         [("c_tiny_m4/tiny.c", "tiny", "int8_t"),
                          ("c_tiny16_m4/tiny16.c", "tiny16", "int16_t")])
def test_dsp_snapshots_cover_both_weight_widths(snapshot: str, prefix: str, ctype: str) -> None:
    """Each stored DSP snapshot is what its name says: LG_DSP, weights of that width in the
    register-block layout (one array row per block of 4 gate rows, 8 elements per input
    pair)."""
    text = (GOLDEN / snapshot).read_text(encoding="utf-8")
    assert "#define LG_DSP 1" in text
    for name in (f"{prefix}_l0_w_ih", f"{prefix}_l0_w_hh", f"{prefix}_head_w"):
        got, _ = _array(text, name)
        assert got == ctype, name
    P = prefix.upper()
    assert f"{prefix}_l0_w_ih[{P}_H0_PAD][8 * (({P}_N_IN + 1) / 2)]" in text


def test_int16_dsp_words_hold_input_pairs() -> None:
    """The int16 layout as lg_dsp.h documents it: block b holds rows 4b..4b+3 of the stacked
    gates (i, f, g, o, each padded to 4 units), and for each pair c of inputs its 4 words
    (W[4b+j][2c], W[4b+j][2c+1]); an odd input count pairs the last input with a zero."""
    model = _tiny16()
    la = model.layers[0]
    _, w = _array(render(model, CTarget(cpu="cortex-m4"))["tiny16.c"], "tiny16_l0_w_ih")
    H, pad, X = la.n_hidden, 4, la.n_in  # hidden 3 padded to 4 units per gate
    stacked = np.zeros((4 * pad, X + 1), np.int64)
    for gi, (_, g) in enumerate(la.gates()):
        stacked[gi * pad:gi * pad + H, :X] = g.w_ih.values
    blocks = w.reshape(4 * pad // 4, (X + 1) // 2, 4, 2)  # [block][pair][row j][input of the pair]
    for b in range(blocks.shape[0]):
        for c in range((X + 1) // 2):
            np.testing.assert_array_equal(blocks[b, c], stacked[4 * b:4 * b + 4, 2 * c:2 * c + 2])
