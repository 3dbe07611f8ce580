"""Multi-process training with PyTorch's own engine: ``torchrun ... -m lstmgen train ...``.

Under ``torchrun`` (``WORLD_SIZE`` > 1 in the environment) :func:`setup` joins the process
group (gloo on CPU, NCCL on GPUs) and training wraps the model in ``DistributedDataParallel``.
The semantics equal a single-process run with the same global batch, to float round-off:

* every global batch is split into contiguous per-rank shards; each rank's loss is its shard's
  summed loss divided by the global batch size, times the world size, so DDP's gradient average
  is the gradient of the global mean;
* ISS (group Lasso penalty added on every rank, zero-out after every step) and SHS act on
  parameters that are identical on every rank after each synchronised step, so they are applied
  the same way everywhere;
* evaluation runs on every rank over the whole split (identical numbers); only rank 0 writes
  the run directory; every rank reads ``state.pt`` on ``--resume``.

Dropout masks come from each rank's own random stream, so with dropout the run is a different
(equally valid) sample than a single-process run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from torch import nn

from .errors import UsageError

__all__ = ["SINGLE", "Dist", "setup", "unwrap"]


@dataclass(frozen=True)
class Dist:
    """The process's place in the job (``world`` 1: not distributed)."""

    rank: int = 0
    world: int = 1

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        """True on the process that writes files and prints."""
        return self.rank == 0

    def shard(self, n: int) -> slice:
        """This rank's contiguous share of ``n`` items (sizes differ by at most one)."""
        base, extra = divmod(n, self.world)
        start = self.rank * base + min(self.rank, extra)
        return slice(start, start + base + (1 if self.rank < extra else 0))

    def wrap(self, module: nn.Module, device: torch.device) -> nn.Module:
        """``module`` in ``DistributedDataParallel`` when distributed, else unchanged."""
        if not self.active:
            return module
        from torch.nn.parallel import DistributedDataParallel

        ids = [torch.cuda.current_device()] if device.type == "cuda" else None
        return DistributedDataParallel(module, device_ids=ids)

    def sum(self, *values: float) -> list[float]:
        """``values`` summed over all ranks (for reported figures)."""
        if not self.active:
            return list(values)
        t = torch.tensor(values, dtype=torch.float64)
        torch.distributed.all_reduce(t)
        return t.tolist()

    def barrier(self) -> None:
        if self.active:
            torch.distributed.barrier()


#: A plain, single-process run.
SINGLE = Dist()


def setup(device: torch.device) -> Dist:
    """Join the ``torchrun`` process group when there is one; a plain run gets ``Dist()``."""
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if world <= 1:
        return SINGLE
    import torch.distributed as dist

    rank = int(os.environ.get("RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        try:
            dist.init_process_group(backend=backend)
        except (RuntimeError, ValueError) as exc:
            raise UsageError(f"cannot join the torchrun process group ({exc})") from None
    return Dist(rank=rank, world=world)


def unwrap(module: nn.Module) -> nn.Module:
    """The model inside a ``DistributedDataParallel`` wrapper or a forwarding adapter."""
    while True:
        inner = getattr(module, "module", None) or getattr(module, "inner", None)
        if not isinstance(inner, nn.Module):
            return module
        module = inner
