"""The ``.lstmir`` file: one deterministic zip archive, ``ir.json`` (structure, formats,
scalars, ``"version": 1``) plus one ``.npy`` member per integer array. The same IR always
serialises to the same bytes. Reading checks every member's declared shape and size from its
``.npy`` header before its data is inflated, so a damaged or hostile archive costs nothing."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..errors import IRError
from .types import (
    GATES,
    ActTable,
    Gate,
    IntTensor,
    Linear,
    LstmLayer,
    Model,
    QFormat,
    bool_field,
    int_field,
    thaw,
)

__all__ = [
    "IR_VERSION",
    "MAX_ARCHIVE_BYTES",
    "MAX_MEMBER_BYTES",
    "dumps",
    "is_ir_file",
    "load",
    "loads",
    "save",
    "sha256",
]

IR_VERSION = 1

def _tensor_json(t: IntTensor, key: str, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    dtype = np.int8 if t.fmt.bits <= 8 else np.int16 if t.fmt.bits <= 16 else np.int32
    if t.fmt.bits > 32:
        dtype = np.int64
    arrays[key] = t.values.astype(dtype)
    return {"array": key, "fmt": t.fmt.to_json()}


def _doc(m: Any, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """The ``ir.json`` document of an LSTM :class:`Model` or a tLSTM
    (:class:`lstmgen.ir.tlstm.TlstmModel`, its own schema ``lstmgen-tlstm-ir``)."""
    if getattr(m, "family", "lstm") == "tlstm":
        from .tlstm import to_doc

        return to_doc(m, _tensor_json, arrays)
    return _model_json(m, arrays)


def _model_json(m: Model, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    def table(t: ActTable) -> dict[str, Any]:
        return {
            "func": t.func.value,
            "in_fmt": t.in_fmt.to_json(),
            "lo": t.lo,
            "shift": t.shift,
            "interp": t.interp,
            "values": _tensor_json(t.values, f"tables/{t.func}", arrays),
        }

    layers = []
    for li, la in enumerate(m.layers):
        gates = {}
        for gname, g in la.gates():
            p = f"layers/{li}/{gname}"
            gates[gname] = {
                "w_ih": _tensor_json(g.w_ih, f"{p}/w_ih", arrays),
                "w_hh": _tensor_json(g.w_hh, f"{p}/w_hh", arrays),
                "bias": _tensor_json(g.bias, f"{p}/bias", arrays),
            }
        layers.append(
            {
                "in_fmt": la.in_fmt.to_json(),
                "c_fmt": la.c_fmt.to_json(),
                "h_fmt": la.h_fmt.to_json(),
                "o_threshold": la.o_threshold,
                "gates": gates,
            }
        )
    return {
        "format": "lstmgen-ir",
        "version": IR_VERSION,
        "generator": f"lstmgen {__version__}",
        "name": m.name,
        "kind": m.kind.value,
        "tables": {"sigmoid": table(m.sigmoid), "tanh": table(m.tanh)},
        "embedding": None if m.embedding is None else _tensor_json(m.embedding, "embedding", arrays),
        "layers": layers,
        "head": {
            "weight": _tensor_json(m.head.weight, "head/weight", arrays),
            "bias": _tensor_json(m.head.bias, "head/bias", arrays),
            "in_fmt": m.head.in_fmt.to_json(),
            "out_fmt": m.head.out_fmt.to_json(),
        },
        "meta": thaw(m.meta),
    }


_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
#: What a damaged archive member can raise while being inflated or parsed.
_ARCHIVE_ERRORS = (zlib.error, EOFError, NotImplementedError, ValueError, RuntimeError, OSError)


def dumps(model: Model) -> bytes:
    """Serialise ``model`` to the bytes of a ``.lstmir`` archive (deterministic)."""
    arrays: dict[str, np.ndarray] = {}
    doc = _doc(model, arrays)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:

        def put(name: str, data: bytes) -> None:
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data, compresslevel=6)

        put("ir.json", json.dumps(doc, indent=1, sort_keys=True).encode())
        for key in sorted(arrays):
            b = io.BytesIO()
            np.save(b, np.ascontiguousarray(arrays[key]), allow_pickle=False)
            put(f"arrays/{key}.npy", b.getvalue())
    return buf.getvalue()


def save(model: Model, path: str | Path) -> Path:
    """Write ``model`` to ``path`` atomically (nothing is left behind on failure)."""
    from .._io import atomic_file

    path = Path(path)
    data = dumps(model)
    with atomic_file(path) as tmp:
        tmp.write_bytes(data)
    return path


def sha256(model: Model) -> str:
    """Hex SHA-256 of the model's content: everything that defines its arithmetic (name, kind,
    formats, codes, tables, thresholds), not ``meta`` and not the lstmgen version that wrote it,
    so that a new release or a different evaluation note names the same model the same way.
    It names the IR in generated files."""
    arrays: dict[str, np.ndarray] = {}
    doc = _doc(model, arrays)
    del doc["generator"], doc["meta"]
    h = hashlib.sha256(json.dumps(doc, sort_keys=True).encode())
    for key in sorted(arrays):
        a = np.ascontiguousarray(arrays[key])
        h.update(f"\n{key} {a.dtype.str} {a.shape}\n".encode())
        h.update(a.tobytes())
    return h.hexdigest()


#: Largest array member lstmgen reads (declared size, checked before any data is read), and
#: the largest IR archive in all: far beyond any model an MCU or FPGA holds.
MAX_MEMBER_BYTES = 256 << 20
MAX_ARCHIVE_BYTES = 1 << 30


class _Reader:
    """Reads array members, checking each one's declared shape and size from its ``.npy`` header
    before a byte of its data is inflated."""

    def __init__(self, zf: zipfile.ZipFile, src: str) -> None:
        self.zf, self.src = zf, src
        self.total = 0

    def _member(self, obj: Any, where: str) -> str:
        if not isinstance(obj, dict) or "array" not in obj or "fmt" not in obj \
                or not isinstance(obj["array"], str):
            raise IRError(f"{self.src}: {where}: expected {{array, fmt}}")
        return f"arrays/{obj['array']}.npy"

    def shape(self, obj: Any, where: str) -> tuple[int, ...]:
        """The shape a member declares in its ``.npy`` header (its data is not read); the
        declared size is checked against the member's size in the archive and the limits."""
        member = self._member(obj, where)
        try:
            info = self.zf.getinfo(member)
            with self.zf.open(info) as f:
                version = np.lib.format.read_magic(f)
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(f)
                elif version == (2, 0):
                    shape, _, dtype = np.lib.format.read_array_header_2_0(f)
                else:
                    raise ValueError(f"unsupported .npy version {version}")
                header_len = f.tell()
        except KeyError:
            raise IRError(f"{self.src}: {where}: missing array member {member}") from None
        except (zipfile.BadZipFile, *_ARCHIVE_ERRORS) as exc:
            raise IRError(f"{self.src}: {where}: unreadable array ({exc})") from None
        if dtype.kind not in "iu" or dtype.hasobject:
            raise IRError(f"{self.src}: {where}: integer codes expected, got dtype {dtype}")
        nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
        if nbytes > MAX_MEMBER_BYTES:
            raise IRError(
                f"{self.src}: {where}: array of shape {shape} declares {nbytes} bytes "
                f"(lstmgen reads array members up to {MAX_MEMBER_BYTES >> 20} MiB)"
            )
        if info.file_size != header_len + nbytes:
            raise IRError(
                f"{self.src}: {where}: member holds {info.file_size - header_len} data bytes, "
                f"its header declares {nbytes} (shape {shape})"
            )
        self.total += nbytes
        if self.total > MAX_ARCHIVE_BYTES:
            raise IRError(f"{self.src}: arrays exceed {MAX_ARCHIVE_BYTES >> 30} GiB in all")
        return tuple(int(d) for d in shape)

    def tensor(self, obj: Any, where: str, expect: tuple[int, ...] | None = None) -> IntTensor:
        """The member's codes with their format; ``expect`` (a shape) is checked first."""
        shape = self.shape(obj, where)
        if expect is not None and shape != expect:
            raise IRError(f"{self.src}: {where}: shape {shape} != {expect}")
        member = self._member(obj, where)
        try:
            with self.zf.open(member) as f:
                arr = np.load(f, allow_pickle=False)
        except (zipfile.BadZipFile, *_ARCHIVE_ERRORS) as exc:
            raise IRError(f"{self.src}: {where}: unreadable array ({exc})") from None
        fmt = QFormat.from_json(obj["fmt"], f"{self.src}: {where}")
        try:
            return IntTensor(arr, fmt, name=where)
        except IRError as exc:
            raise type(exc)(f"{self.src}: {exc}") from None


def _get(d: Any, key: str, where: str) -> Any:
    if not isinstance(d, dict) or key not in d:
        raise IRError(f"{where}: missing field {key!r}")
    return d[key]


def loads(data: bytes, src: str = "<bytes>") -> Model:
    """Parse the bytes of a ``.lstmir`` archive; every problem raises :class:`IRError`."""
    return _load(io.BytesIO(data), src)


def _load(file: Any, src: str) -> Model:
    try:
        zf = zipfile.ZipFile(file)
        info = zf.getinfo("ir.json")
        if info.file_size > MAX_MEMBER_BYTES:
            raise IRError(f"{src}: ir.json declares {info.file_size} bytes")
        doc = json.loads(zf.read(info))
    except zipfile.BadZipFile:
        raise IRError(f"{src}: not an lstmgen IR archive (not a zip file)") from None
    except KeyError:
        raise IRError(f"{src}: not an lstmgen IR archive (no ir.json)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise IRError(f"{src}: ir.json is not valid JSON ({exc})") from None
    except _ARCHIVE_ERRORS as exc:
        raise IRError(f"{src}: corrupted IR archive ({type(exc).__name__}: {exc})") from None
    if isinstance(doc, dict) and doc.get("format") == "lstmgen-tlstm-ir":
        return _load_tlstm(doc, zf, src)
    if not isinstance(doc, dict) or doc.get("format") != "lstmgen-ir":
        raise IRError(f"{src}: not an lstmgen IR (format field missing)")
    if type(doc.get("version")) is not int or doc.get("version") != IR_VERSION:
        raise IRError(
            f"{src}: IR version {doc.get('version')!r} is not supported (this lstmgen reads {IR_VERSION})"
        )
    r = _Reader(zf, src)
    try:

        def table(key: str) -> ActTable:
            t = _get(_get(doc, "tables", src), key, f"{src}: tables")
            w = f"{src}: tables.{key}"
            shape = r.shape(_get(t, "values", w), f"tables.{key}")
            if len(shape) != 1 or not 2 <= shape[0] <= 65536:
                raise IRError(f"{w}: needs 2..65536 entries in a 1-D array, got shape {shape}")
            return ActTable(
                func=_get(t, "func", w),
                in_fmt=QFormat.from_json(_get(t, "in_fmt", w), w),
                lo=int_field(_get(t, "lo", w), f"{w}.lo"),
                shift=int_field(_get(t, "shift", w), f"{w}.shift"),
                values=r.tensor(_get(t, "values", w), f"tables.{key}"),
                interp=bool_field(_get(t, "interp", w), f"{w}.interp"),
            )

        layers = []
        raw_layers = _get(doc, "layers", src)
        if not isinstance(raw_layers, list):
            raise IRError(f"{src}: layers must be a list")
        n_x = None  # inputs of the layer: the layer below's hidden size
        for li, la in enumerate(raw_layers):
            w = f"{src}: layer {li}"
            gates = _get(la, "gates", w)
            first = _get(_get(gates, "i", w), "w_ih", w)
            shape = r.shape(first, f"layer {li} gate i w_ih")
            if len(shape) != 2 or (n_x is not None and shape[1] != n_x):
                raise IRError(f"{w} gate i: w_ih shape {shape} != (hidden, {n_x or 'inputs'})")
            H, X = shape
            built = {}
            for gname in GATES:
                g = _get(gates, gname, w)
                p = f"layer {li} gate {gname}"
                built[gname] = Gate(
                    w_ih=r.tensor(_get(g, "w_ih", w), f"{p} w_ih", (H, X)),
                    w_hh=r.tensor(_get(g, "w_hh", w), f"{p} w_hh", (H, H)),
                    bias=r.tensor(_get(g, "bias", w), f"{p} bias", (H,)),
                )
            n_x = H
            thr = _get(la, "o_threshold", w)
            layers.append(
                LstmLayer(
                    in_fmt=QFormat.from_json(_get(la, "in_fmt", w), w),
                    c_fmt=QFormat.from_json(_get(la, "c_fmt", w), w),
                    h_fmt=QFormat.from_json(_get(la, "h_fmt", w), w),
                    o_threshold=None if thr is None else int_field(thr, f"{w}.o_threshold"),
                    **built,
                )
            )
        if not layers:
            raise IRError(f"{src}: model: needs at least one LSTM layer")
        head = _get(doc, "head", src)
        hw = _get(head, "weight", src)
        shape = r.shape(hw, "head weight")
        if len(shape) != 2 or shape[1] != n_x:
            raise IRError(f"{src}: head: weight shape {shape} != (outputs, {n_x})")
        n_out = shape[0]
        emb = doc.get("embedding")
        meta = doc.get("meta", {})
        if not isinstance(meta, dict):
            raise IRError(f"{src}: meta must be an object")
        if emb is not None:
            shape = r.shape(emb, "embedding")
            if len(shape) != 2 or shape[1] != layers[0].n_in:
                raise IRError(f"{src}: embedding: shape {shape} != (vocab, {layers[0].n_in})")
        return Model(
            name=_get(doc, "name", src),
            kind=_get(doc, "kind", src),
            layers=tuple(layers),
            head=Linear(
                weight=r.tensor(hw, "head weight"),
                bias=r.tensor(_get(head, "bias", src), "head bias", (n_out,)),
                in_fmt=QFormat.from_json(_get(head, "in_fmt", src), f"{src}: head"),
                out_fmt=QFormat.from_json(_get(head, "out_fmt", src), f"{src}: head"),
            ),
            sigmoid=table("sigmoid"),
            tanh=table("tanh"),
            embedding=None if emb is None else r.tensor(emb, "embedding"),
            meta=meta,
        )
    except IRError as exc:
        msg = str(exc)
        raise type(exc)(msg if msg.startswith(src) else f"{src}: {msg}") from None


def _load_tlstm(doc: dict[str, Any], zf: zipfile.ZipFile, src: str) -> Any:
    """A tLSTM IR (:func:`lstmgen.ir.tlstm.from_doc`), with :func:`_load`'s error naming."""
    from .tlstm import from_doc

    try:
        return from_doc(doc, _Reader(zf, src), src)
    except IRError as exc:
        msg = str(exc)
        raise type(exc)(msg if msg.startswith(src) else f"{src}: {msg}") from None


def load(path: str | Path) -> Model:
    """Read a ``.lstmir`` file; a missing, corrupted or foreign file raises :class:`IRError`."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            return _load(f, str(path))
    except OSError as exc:
        raise IRError(f"{path}: cannot read IR ({exc.strerror or exc})") from None


def is_ir_file(path: str | Path) -> bool:
    """True when ``path`` is a zip archive holding ``ir.json``."""
    try:
        with zipfile.ZipFile(path) as zf:
            return "ir.json" in zf.namelist()
    except (OSError, zipfile.BadZipFile):
        return False
