"""The binary vector files every target reads and writes (ARCHITECTURE §4). Little-endian.

``inputs.bin``  = header ``u32 magic 'LGV1', u32 kind (0 classifier | 1 lm), u32 n_vectors,
u32 n_steps, u32 width`` then ``int16[n_vectors][n_steps][width]`` codes (classifier, width =
n_in) or ``int32[n_vectors][n_steps]`` token ids (lm, width = 1).

``outputs.bin`` = header ``u32 magic 'LGO1', u32 n_vectors, u32 n_rows, u32 n_out`` then
``int16[n_vectors][n_rows][n_out]``: one row (the last step) for a classifier, one per step
for an LM.

``dump.bin`` (optional, for locating a mismatch) = header ``u32 magic 'LGD1', u32 n_vectors,
u32 n_steps, u32 n_layers`` then, per vector, per step, per layer: ``int16 h[H_l]`` followed by
``int32 c[H_l]``.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..ir import Model

__all__ = [
    "DUMP_MAGIC",
    "IN_MAGIC",
    "OUT_MAGIC",
    "read_dump",
    "read_inputs",
    "read_outputs",
    "write_inputs",
    "write_outputs",
]

IN_MAGIC = b"LGV1"
OUT_MAGIC = b"LGO1"
DUMP_MAGIC = b"LGD1"


def write_inputs(path: str | Path, model: Model, inputs: np.ndarray) -> None:
    """Write validated input sequences (see :func:`lstmgen.golden.check_inputs`)."""
    arr = np.asarray(inputs)
    n, t = arr.shape[:2]
    if model.is_lm:
        header = IN_MAGIC + struct.pack("<4I", 1, n, t, 1)
        data = arr.astype("<i4").tobytes()
    else:
        header = IN_MAGIC + struct.pack("<4I", 0, n, t, arr.shape[2])
        data = arr.astype("<i2").tobytes()
    Path(path).write_bytes(header + data)


def read_inputs(path: str | Path) -> np.ndarray:
    """Read an ``inputs.bin`` back: (n, T, width) int64 codes or (n, T) int64 token ids."""
    raw = Path(path).read_bytes()
    if len(raw) < 20 or raw[:4] != IN_MAGIC:
        raise DataError(f"{path}: not an lstmgen input vector file")
    kind, n, t, width = struct.unpack("<4I", raw[4:20])
    dtype, shape = ("<i4", (n, t)) if kind == 1 else ("<i2", (n, t, width))
    count = int(np.prod(shape))
    body = np.frombuffer(raw, dtype=dtype, offset=20)
    if body.size != count:
        raise DataError(f"{path}: expected {count} values, found {body.size}")
    return body.reshape(shape).astype(np.int64)


def write_outputs(path: str | Path, outputs: np.ndarray) -> None:
    """Write (n, rows, n_out) codes in the ``outputs.bin`` layout (used by tests and tools)."""
    arr = np.asarray(outputs)
    if arr.ndim == 2:
        arr = arr[:, None, :]
    Path(path).write_bytes(OUT_MAGIC + struct.pack("<3I", *arr.shape) + arr.astype("<i2").tobytes())


def read_outputs(path: str | Path, model: Model, n_vectors: int, n_steps: int) -> np.ndarray:
    """Read a target's ``outputs.bin``; shape as :attr:`lstmgen.golden.RunResult.outputs`."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: the target wrote no output file")
    raw = p.read_bytes()
    rows = n_steps if model.is_lm else 1
    want = (n_vectors, rows, model.n_out)
    if len(raw) < 16 or raw[:4] != OUT_MAGIC:
        raise DataError(f"{p}: not an lstmgen output file (bad magic)")
    got = struct.unpack("<3I", raw[4:16])
    if got != want:
        raise DataError(f"{p}: header says {got} (vectors, rows, outputs), expected {want}")
    body = np.frombuffer(raw, dtype="<i2", offset=16)
    if body.size != int(np.prod(want)):
        raise DataError(f"{p}: truncated: {body.size} of {int(np.prod(want))} values")
    out = body.reshape(want).astype(np.int64)
    return out if model.is_lm else out[:, 0, :]


def read_dump(path: str | Path, model: Model) -> list[dict[str, np.ndarray]]:
    """Read a ``dump.bin``: per layer ``{"h": (n, T, H), "c": (n, T, H)}``."""
    raw = Path(path).read_bytes()
    if len(raw) < 16 or raw[:4] != DUMP_MAGIC:
        raise DataError(f"{path}: not an lstmgen dump file")
    n, t, nl = struct.unpack("<3I", raw[4:16])
    if nl != len(model.hidden):  # a tLSTM dumps one "layer" per location (its hidden)
        raise DataError(f"{path}: {nl} layers in dump, model has {len(model.hidden)}")
    rec = np.dtype(
        [
            item
            for li, H in enumerate(model.hidden)
            for item in ((f"h{li}", "<i2", (H,)), (f"c{li}", "<i4", (H,)))
        ]
    )
    body = np.frombuffer(raw, dtype=rec, offset=16)
    if body.size != n * t:
        raise DataError(f"{path}: truncated dump ({body.size} of {n * t} records)")
    body = body.reshape(n, t)
    return [
        {"h": body[f"h{li}"].astype(np.int64), "c": body[f"c{li}"].astype(np.int64)}
        for li in range(nl)
    ]
