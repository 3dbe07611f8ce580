"""The lstmgen IR: a small, frozen, typed description of a quantized LSTM network.

* :mod:`.types` - the dataclasses (``QFormat``, ``IntTensor``, ``ActTable``, ``Gate``,
  ``LstmLayer``, ``Linear``, ``Model``) and the ``Kind``/``Func`` enums;
* :mod:`.validate` - the checks every ``Model`` passes on construction (shapes, formats, and
  the widths of its arithmetic plan, :mod:`lstmgen.plan`);
* :mod:`.serialize` - the deterministic ``.lstmir`` archive (``save``/``load``) and the content
  hash that names a model in generated files;
* :mod:`.tlstm` - the tensorized LSTM's model (``TlstmModel``, ``ConvGate``, ``ExpTable``), read
  and written by the same ``save``/``load`` under its own schema (``lstmgen-tlstm-ir``).
"""

from __future__ import annotations

from .serialize import IR_VERSION, dumps, is_ir_file, load, loads, save, sha256
from .tlstm import TLSTM_FORMAT, ConvGate, ExpTable, TlstmModel
from .types import (
    ACT_BITS,
    GATES,
    MAX_INTERMEDIATE_BITS,
    WEIGHT_BITS,
    ActTable,
    Func,
    Gate,
    IntTensor,
    Kind,
    Linear,
    LstmLayer,
    Model,
    QFormat,
)
from .validate import NAME_MAX, NAME_RE

__all__ = [
    "ACT_BITS",
    "GATES",
    "IR_VERSION",
    "MAX_INTERMEDIATE_BITS",
    "NAME_MAX",
    "NAME_RE",
    "TLSTM_FORMAT",
    "WEIGHT_BITS",
    "ActTable",
    "ConvGate",
    "ExpTable",
    "Func",
    "Gate",
    "IntTensor",
    "Kind",
    "Linear",
    "LstmLayer",
    "Model",
    "QFormat",
    "TlstmModel",
    "dumps",
    "is_ir_file",
    "load",
    "loads",
    "save",
    "sha256",
]
