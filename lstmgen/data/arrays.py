"""One reader for the ``.npy`` arrays a user hands to lstmgen (calibration data, input vectors).

Never unpickles (``allow_pickle=False``) and reads the header before the data, so a file that
claims more bytes than it holds is refused before any memory is allocated. Every problem is
one :class:`~lstmgen.errors.DataError` line that names the file and what it was meant to be.
"""

from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path

import numpy as np

from ..errors import DataError

__all__ = ["load_array"]

_NPY_MAGIC = b"\x93NUMPY"


def load_array(path: str | os.PathLike[str], what: str) -> np.ndarray:
    """Read one numeric array from the ``.npy`` file ``path``; ``what`` names it in errors.

    Raises :class:`DataError` (``PATH: WHAT: reason``) for a missing, unreadable or empty file,
    a directory, an ``.npz`` archive or other zip file renamed ``.npy``, bytes that are not a
    ``.npy`` file, an array of Python objects (pickled), a structured or non-numeric dtype, and a
    file shorter than its header says. Returns a numpy array (bool, integer, float or complex:
    callers check the kinds they accept).

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.npy"
    >>> np.save(p, np.arange(6).reshape(2, 3))
    >>> load_array(p, "test data").shape
    (2, 3)
    """
    p = Path(path)

    def bad(reason: str) -> DataError:
        return DataError(f"{p}: {what}: {reason}")

    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise bad("no such file") from None
    except OSError as exc:
        raise bad(f"cannot read: {exc.strerror or exc}") from None
    if stat.S_ISDIR(st.st_mode):
        raise bad("is a directory, expected a .npy file")
    if not stat.S_ISREG(st.st_mode):
        raise bad("not a regular file")
    if st.st_size == 0:
        raise bad("empty file (0 bytes), expected a .npy array")
    try:
        with open(p, "rb") as f:
            head = f.read(len(_NPY_MAGIC))
            if head[:2] == b"PK" and zipfile.is_zipfile(f):
                raise bad("is a zip archive (an .npz file?), expected one array saved with "
                          "numpy.save")
            if head != _NPY_MAGIC:
                raise bad("not a .npy file (no NUMPY header)")
            f.seek(0)
            try:
                version = np.lib.format.read_magic(f)
                if version == (1, 0):
                    shape, _fortran, dtype = np.lib.format.read_array_header_1_0(f)
                else:
                    shape, _fortran, dtype = np.lib.format.read_array_header_2_0(f)
            except (ValueError, SyntaxError, TypeError, EOFError, OverflowError) as exc:
                raise bad(f"damaged .npy header ({_first_line(exc)})") from None
            if dtype.hasobject:
                raise bad("holds Python objects (dtype object); lstmgen reads only numeric "
                          "arrays and never unpickles")
            if dtype.kind not in "biufc" or dtype.fields is not None or dtype.subdtype is not None:
                raise bad(f"dtype {dtype} is not numeric")
            count = 1
            for n in shape:
                count *= int(n)
            need = count * dtype.itemsize
            have = st.st_size - f.tell()
            if have < need:
                raise bad(f"truncated: the header declares shape {tuple(shape)} {dtype} "
                          f"({need} bytes) but the file holds {have} bytes of data")
            f.seek(0)
            try:
                arr = np.load(f, allow_pickle=False)
            except (ValueError, EOFError, OSError) as exc:
                raise bad(f"damaged .npy file ({_first_line(exc)})") from None
    except OSError as exc:
        raise bad(f"cannot read: {exc.strerror or exc}") from None
    except MemoryError:
        raise bad(f"too large to load ({st.st_size} bytes)") from None
    if not isinstance(arr, np.ndarray):  # pragma: no cover - np.load of a .npy is an array
        raise bad("not a single array")
    return arr


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
