"""Issue 7, "nothing lost, no tracebacks": the CLI tried as a hostile new user would.

One row per case. A failing row must end with exit status 2 (1 only for a verify mismatch),
exactly one line on stderr (``lstmgen: error: ...``), no traceback and no Python warning, and
leave every file and directory that existed before exactly as it was (content and mode), with
nothing new beside them and nothing in the temporary directory. A row that must succeed
(exit 0) may add files but may not change anything that existed, nor leave a temporary file.

Three environments:

* ``plain``: in process (``CliRunner``), the working directory is the row's directory;
* ``readonly``: ``ro/`` is a directory without write permission, and the CLI runs as a user
  without CAP_DAC_OVERRIDE (uid 65534 in a subprocess when the tests run as root);
* ``full``: ``full/`` is a full 64 KiB tmpfs (ENOSPC) when this machine lets the tests mount
  one, otherwise an ordinary directory and the CLI runs in a subprocess with RLIMIT_FSIZE = 1
  byte (EFBIG).

Rows marked ``lead`` exercise generate / verify / report.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import pickle
import re
import resource
import shutil
import stat
import subprocess
import sys
import tempfile
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.unit

LSTMGEN = Path(sys.executable).with_name("lstmgen")
NOBODY = 65534


# --------------------------------------------------------------------------------------------
# assets: tiny inputs built once per module


def _rewrite_member(data: bytes, pick: Callable[[str], bool], new: Callable[[bytes], bytes]) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(data))
    buf = io.BytesIO()
    done = False
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info)
            if not done and pick(info.filename):
                body, done = new(body), True
            dst.writestr(info, body)
    assert done
    return buf.getvalue()


def _huge_header(npy: bytes) -> bytes:
    """The same member data behind a header that claims 2 GiB."""
    f = io.BytesIO(npy)
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        np.lib.format.read_array_header_1_0(f)
    else:
        np.lib.format.read_array_header_2_0(f)
    head = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        head, {"descr": "<i8", "fortran_order": False, "shape": (1 << 28,)})
    return head.getvalue() + npy[f.tell():]


@pytest.fixture(scope="module")
def assets(tmp_path_factory) -> Path:
    from lstmgen import ir
    from lstmgen.checkpoint import Checkpoint, ModelConfig, build_module, save_checkpoint
    from lstmgen.testing import random_model
    from lstmgen.train import default_config, train

    d = tmp_path_factory.mktemp("assets")
    torch.manual_seed(0)
    cls_cfg = ModelConfig(kind="classifier", n_in=4, hidden=(5,), n_out=3)
    sd = {k: v.detach().clone() for k, v in build_module(cls_cfg).state_dict().items()}
    save_checkpoint(Checkpoint(cls_cfg, sd, {"task": "test"}), d / "cls.pt")
    torch.save(sd, d / "sd.pt")
    lm_cfg = ModelConfig(kind="lm", n_in=3, hidden=(4,), n_out=7, vocab=7)
    lm_sd = {k: v.detach().clone() for k, v in build_module(lm_cfg).state_dict().items()}
    save_checkpoint(Checkpoint(lm_cfg, lm_sd, {"task": "test"}), d / "lm.pt")

    def payload(state_dict, meta="{}"):
        return {"format": "lstmgen-checkpoint", "version": 1, "config": cls_cfg.to_dict(),
                "meta": meta, "state_dict": state_dict}

    for kind, t in (("sparse", sd["head.weight"].to_sparse()),
                    ("meta", torch.empty(3, 5, device="meta"))):
        torch.save({**sd, "head.weight": t}, d / f"{kind}_sd.pt")
        torch.save(payload({**sd, "head.weight": t}), d / f"{kind}_ck.pt")
    torch.save(payload(sd, '{"metrics": {"valid_ppl": NaN, "best": Infinity}}'), d / "nan_meta.pt")
    data = (d / "cls.pt").read_bytes()
    (d / "cut.pt").write_bytes(data[: len(data) // 2])
    (d / "raw.pkl").write_bytes(pickle.dumps({"weights": {1, 2}}, protocol=4))

    rng = np.random.default_rng(0)
    x = rng.random((4, 6, 4))
    arrays = {
        "calib.npy": x,
        "calib_text.npy": np.full((4, 6, 4), "a"),
        "calib_complex.npy": x.astype(complex),
        "calib_bool.npy": x > 0.5,
        "calib_no_steps.npy": np.zeros((4, 0, 4)),
        "calib_no_seqs.npy": np.zeros((0, 6, 4)),
        "calib_huge.npy": x * 1e30,
        "lm_no_seqs.npy": np.zeros((0, 5), np.int64),
        "lm_no_steps.npy": np.zeros((3, 0), np.int64),
        "inputs_no_seqs.npy": np.zeros((0, 8, 4), np.int64),
    }
    for name, arr in arrays.items():
        np.save(d / name, arr)
    (d / "empty.npy").write_bytes(b"")
    (d / "random.npy").write_bytes(bytes(rng.integers(0, 256, 300, dtype=np.uint8)))
    np.savez(d / "archive.npz", a=np.zeros((2, 8, 4), np.int64))
    os.replace(d / "archive.npz", d / "npz_renamed.npy")

    model = random_model(0, n_in=4, hidden=(5,), n_out=3, name="net")
    ir.save(model, d / "net.lstmir")
    (d / "big.lstmir").write_bytes(_rewrite_member(
        ir.dumps(model), lambda n: n.startswith("arrays/") and n.endswith(".npy"), _huge_header))

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(default_config("default", hidden=(4,), epochs=1), d / "run", progress=False)
    finally:
        torch.set_num_threads(n)
    return d


# --------------------------------------------------------------------------------------------
# the rows


@dataclass(frozen=True)
class Row:
    id: str
    args: tuple[str, ...]
    files: tuple[str, ...] = ()  # assets copied into the row's directory ("dst=asset" renames)
    setup: Callable[[Path], None] | None = None
    code: int = 2
    match: str | None = None  # a regex the stderr line must match
    forbid: tuple[str, ...] = ()  # text the stderr line must not contain
    env: str = "plain"  # plain | readonly | full
    cwd: str = "."
    check: Callable[[Path, Outcome], None] | None = None  # more checks (rows that succeed)
    lead: bool = False  # generate / verify / report: wired by the lead
    mount_only: bool = False  # env "full": only on a real full disk (the fallback would be slow)


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str
    traceback: str | None = None
    warnings: list[str] = field(default_factory=list)


def _notes(d: Path) -> None:
    (d / "notes.txt").write_text("the user's notes\n")


def _adir(d: Path) -> None:
    (d / "adir").mkdir()
    (d / "adir" / "keep.txt").write_text("keep\n")


def _user_summary(d: Path) -> None:
    (d / "d").mkdir()
    (d / "d" / "summary.json").write_text('{"mine": true}\n')
    (d / "d" / "other.txt").write_text("x\n")


def _edit_state(**changes) -> Callable[[Path], None]:
    def setup(d: Path) -> None:
        state = torch.load(d / "run" / "state.pt", weights_only=True)
        for k, v in changes.items():
            state[k] = v(state) if callable(v) else v
        torch.save(state, d / "run" / "state.pt")
    return setup


def _proj_with_user_code(d: Path) -> None:
    (d / "proj").mkdir(mode=0o755)
    os.chmod(d / "proj", 0o755)
    shutil.copy(d / "net.lstmir", d / "proj" / "net.lstmir")
    (d / "proj" / "app.c").write_text("int app(void) { return 0; }\n")
    os.remove(d / "net.lstmir")


def _proj_with_user_net_c(d: Path) -> None:
    (d / "proj").mkdir()
    (d / "proj" / "net.c").write_text("/* my own net.c */\n")


def _ir_named_like_output(d: Path) -> None:
    (d / "proj").mkdir()
    os.replace(d / "net.lstmir", d / "proj" / "net.c")


def _strict_json(d: Path, out: Outcome) -> None:
    doc = json.loads(out.stdout, parse_constant=lambda c: pytest.fail(f"bare {c} in JSON"))
    assert doc["meta"]["metrics"] == {"valid_ppl": None, "best": None}


def _mode_644(name: str) -> Callable[[Path, Outcome], None]:
    def check(d: Path, out: Outcome) -> None:
        assert stat.S_IMODE((d / name).stat().st_mode) == 0o644, oct((d / name).stat().st_mode)
    return check


def _generated_beside_user_code(d: Path, out: Outcome) -> None:
    assert (d / "proj" / "net.c").is_file()
    assert stat.S_IMODE((d / "proj" / "net.c").stat().st_mode) == 0o644


def _generated_here(d: Path, out: Outcome) -> None:
    assert (d / "proj" / "net.c").is_file() and (d / "proj" / "net.h").is_file()
    assert stat.S_IMODE((d / "proj").stat().st_mode) == 0o755


Q = ("quantize", "cls.pt", "--calib", "calib.npy")
QF = ("cls.pt", "calib.npy")
TRAIN = ("train", "--hidden", "4", "--epochs", "1", "--quiet")
CAL = ("quantize", "cls.pt", "--out", "m.lstmir", "--calib")
LMCAL = ("quantize", "lm.pt", "--out", "m.lstmir", "--calib")

ROWS = [
    # 1. data loss: never replace what lstmgen did not write, never write over an input
    Row("quantize-over-its-input", (*Q, "--out", "cls.pt"), QF, match="own input"),
    Row("quantize-over-its-input-force", (*Q, "--out", "cls.pt", "--force"), QF, match="input"),
    Row("quantize-over-its-calibration", (*Q, "--out", "calib.npy", "--force"), QF,
        match="input"),
    Row("quantize-over-user-file", (*Q, "--out", "notes.txt"), QF, _notes, match="--force"),
    Row("import-over-its-input", ("import", "sd.pt", "--kind", "classifier", "--out", "sd.pt"),
        ("sd.pt",), match="own input"),
    Row("prune-over-its-input", ("prune", "cls.pt", "--out", "cls.pt"), ("cls.pt",),
        match="own input"),
    Row("prune-over-user-file", ("prune", "cls.pt", "--out", "notes.txt"), ("cls.pt",), _notes,
        match="--force"),
    Row("demo-out-is-a-file", ("demo", "--out", "notes.txt", "--quiet"), (), _notes,
        match="not a directory"),
    Row("demo-over-user-file", ("demo", "--out", "d", "--quiet"), (), _user_summary,
        match=r"summary\.json.*--force"),
    Row("generate-beside-user-code", ("generate", "proj/net.lstmir", "--out", "proj"),
        ("net.lstmir",), _proj_with_user_code, code=0, check=_generated_beside_user_code,
        lead=True),
    Row("generate-over-user-file", ("generate", "net.lstmir", "--out", "proj"), ("net.lstmir",),
        _proj_with_user_net_c, match=r"net\.c.*--force", lead=True),
    Row("generate-over-its-input", ("generate", "proj/net.c", "--out", "proj", "--force"),
        ("net.lstmir",), _ir_named_like_output, match="input", lead=True),
    # 2. output paths
    Row("quantize-out-parent-is-a-file", (*Q, "--out", "notes.txt/m.lstmir"), QF, _notes,
        match="is a file"),
    Row("quantize-out-is-a-directory", (*Q, "--out", "adir"), QF, _adir, match="directory"),
    Row("quantize-out-name-too-long", (*Q, "--out", "x" * 300 + ".lstmir"), QF,
        match="too long"),
    Row("import-out-parent-is-a-file",
        ("import", "sd.pt", "--kind", "classifier", "--out", "notes.txt/m.pt"), ("sd.pt",),
        _notes, match="is a file"),
    Row("import-out-is-a-directory", ("import", "sd.pt", "--kind", "classifier", "--out", "adir"),
        ("sd.pt",), _adir, match="directory"),
    Row("prune-out-parent-is-a-file", ("prune", "cls.pt", "--out", "notes.txt/s.pt"), ("cls.pt",),
        _notes, match="is a file"),
    Row("train-out-parent-is-a-file", (*TRAIN, "--out", "notes.txt/run"), (), _notes,
        match="is a file"),
    Row("train-out-is-a-file", (*TRAIN, "--out", "notes.txt"), (), _notes, match="is a file"),
    Row("train-out-not-empty", (*TRAIN, "--out", "adir"), (), _adir, match="not empty"),
    Row("demo-out-parent-is-a-file", ("demo", "--out", "notes.txt/d", "--quiet"), (), _notes,
        match="is a file"),
    Row("generate-out-parent-is-a-file", ("generate", "net.lstmir", "--out", "notes.txt/c"),
        ("net.lstmir",), _notes, match="is a file", lead=True),
    Row("generate-out-is-a-file", ("generate", "net.lstmir", "--out", "notes.txt"),
        ("net.lstmir",), _notes, match="not a directory", lead=True),
    Row("generate-out-dot", ("generate", "../net.lstmir", "--out", "."), ("net.lstmir",),
        lambda d: (d / "proj").mkdir(mode=0o755) or os.chmod(d / "proj", 0o755), code=0,
        cwd="proj", check=_generated_here, lead=True),
    Row("verify-workdir-is-a-file", ("verify", "net.lstmir", "--workdir", "notes.txt"),
        ("net.lstmir",), _notes, match="notes.txt", lead=True),
    Row("verify-workdir-parent-is-a-file", ("verify", "net.lstmir", "--workdir", "notes.txt/w"),
        ("net.lstmir",), _notes, match="notes.txt", lead=True),
    Row("report-workdir-is-a-file", ("report", "net.lstmir", "--workdir", "notes.txt"),
        ("net.lstmir",), _notes, match="notes.txt", lead=True),
    Row("report-workdir-parent-is-a-file", ("report", "net.lstmir", "--workdir", "notes.txt/w"),
        ("net.lstmir",), _notes, match="notes.txt", lead=True),
    # a directory without write permission (EACCES)
    Row("quantize-readonly", (*Q, "--out", "ro/m.lstmir"), QF, env="readonly",
        match="Permission denied"),
    Row("quantize-readonly-subdir", (*Q, "--out", "ro/sub/m.lstmir"), QF, env="readonly",
        match="Permission denied"),
    Row("import-readonly", ("import", "sd.pt", "--kind", "classifier", "--out", "ro/m.pt"),
        ("sd.pt",), env="readonly", match="Permission denied"),
    Row("prune-readonly", ("prune", "cls.pt", "--out", "ro/s.pt"), ("cls.pt",), env="readonly",
        match="Permission denied"),
    Row("train-readonly", (*TRAIN, "--out", "ro/run"), (), env="readonly",
        match="Permission denied"),
    Row("demo-readonly", ("demo", "--out", "ro/d", "--quiet"), (), env="readonly",
        match="Permission denied"),
    Row("generate-readonly", ("generate", "net.lstmir", "--out", "ro/c"), ("net.lstmir",),
        env="readonly", match="Permission denied", lead=True),
    Row("verify-workdir-readonly", ("verify", "net.lstmir", "--workdir", "ro/w"),
        ("net.lstmir",), env="readonly", match="Permission denied", lead=True),
    Row("report-workdir-readonly", ("report", "net.lstmir", "--workdir", "ro/w"),
        ("net.lstmir",), env="readonly", match="Permission denied", lead=True),
    # a full disk (ENOSPC), or a file size limit (EFBIG)
    Row("quantize-disk-full", (*Q, "--out", "full/m.lstmir"), QF, env="full",
        match="No space left|too large"),
    Row("import-disk-full", ("import", "sd.pt", "--kind", "classifier", "--out", "full/m.pt"),
        ("sd.pt",), env="full", match="No space left|too large"),
    Row("prune-disk-full", ("prune", "cls.pt", "--out", "full/s.pt"), ("cls.pt",), env="full",
        match="No space left|too large"),
    Row("train-disk-full", (*TRAIN, "--out", "full/run"), (), env="full",
        match="No space left|too large"),
    Row("demo-disk-full", ("demo", "--out", "full/d", "--quiet"), (), env="full",
        match="not enough free space|No space left|too large", mount_only=True),
    Row("generate-disk-full", ("generate", "net.lstmir", "--out", "full/c"), ("net.lstmir",),
        env="full", match="No space left|too large", lead=True),
    # 2. inputs
    Row("import-sparse-tensor", ("import", "sparse_sd.pt", "--kind", "classifier", "--out", "o.pt"),
        ("sparse_sd.pt",), match="sparse"),
    Row("import-meta-tensor", ("import", "meta_sd.pt", "--kind", "classifier", "--out", "o.pt"),
        ("meta_sd.pt",), match="meta tensor"),
    Row("info-sparse-tensor", ("info", "sparse_ck.pt"), ("sparse_ck.pt",), match="sparse"),
    Row("info-meta-tensor", ("info", "meta_ck.pt"), ("meta_ck.pt",), match="meta tensor"),
    Row("prune-sparse-tensor", ("prune", "sparse_ck.pt", "--out", "o.pt"), ("sparse_ck.pt",),
        match="sparse"),
    Row("prune-meta-tensor", ("prune", "meta_ck.pt", "--out", "o.pt"), ("meta_ck.pt",),
        match="meta tensor"),
    Row("calib-strings", (*CAL, "calib_text.npy"), ("cls.pt", "calib_text.npy"),
        match="calib_text.npy"),
    Row("calib-complex", (*CAL, "calib_complex.npy"), ("cls.pt", "calib_complex.npy"),
        match="complex"),
    Row("calib-bool", (*CAL, "calib_bool.npy"), ("cls.pt", "calib_bool.npy"), match="bool"),
    Row("calib-no-steps", (*CAL, "calib_no_steps.npy"), ("cls.pt", "calib_no_steps.npy"),
        match="0 time steps"),
    Row("calib-no-sequences", (*CAL, "calib_no_seqs.npy"), ("cls.pt", "calib_no_seqs.npy"),
        match="0 sequences"),
    Row("calib-lm-no-sequences", (*LMCAL, "lm_no_seqs.npy"), ("lm.pt", "lm_no_seqs.npy"),
        match="0 sequences"),
    Row("calib-lm-no-steps", (*LMCAL, "lm_no_steps.npy"), ("lm.pt", "lm_no_steps.npy"),
        match="0 time steps"),
    Row("calib-empty-file", (*CAL, "empty.npy"), ("cls.pt", "empty.npy"), match="0 bytes"),
    Row("calib-npz-renamed", (*CAL, "npz_renamed.npy"), ("cls.pt", "npz_renamed.npy"),
        match="npz"),
    Row("calib-random-bytes", (*CAL, "random.npy"), ("cls.pt", "random.npy"),
        match="not a .npy file", forbid=("allow_pickle",)),
    Row("calib-missing", (*CAL, "missing.npy"), ("cls.pt",), match="no such file"),
    Row("calib-directory", (*CAL, "adir"), ("cls.pt",), _adir, match="directory"),
    Row("verify-inputs-npz-renamed", ("verify", "net.lstmir", "--inputs", "npz_renamed.npy"),
        ("net.lstmir", "npz_renamed.npy"), match="npz", lead=True),
    Row("verify-inputs-empty-file", ("verify", "net.lstmir", "--inputs", "empty.npy"),
        ("net.lstmir", "empty.npy"), match="0 bytes", lead=True),
    Row("verify-inputs-random-bytes", ("verify", "net.lstmir", "--inputs", "random.npy"),
        ("net.lstmir", "random.npy"), forbid=("allow_pickle",), lead=True),
    Row("verify-seed-negative", ("verify", "net.lstmir", "--seed", "-1"), ("net.lstmir",),
        match="--seed", lead=True),
    Row("report-seed-negative", ("report", "net.lstmir", "--seed", "-1"), ("net.lstmir",),
        match="--seed", lead=True),
    Row("train-seed-2-to-the-70", (*TRAIN, "--seed", str(2**70), "--out", "run"),
        match="--seed"),
    Row("train-seed-negative", (*TRAIN, "--seed", "-1", "--out", "run"), match="--seed"),
    Row("train-bf16-with-shs", (*TRAIN, "--precision", "bf16", "--shs-threshold", "0.3",
                                "--out", "run"), match="--precision bf16 is not supported"),
    Row("train-hidden-200000", ("train", "--hidden", "200000", "--quiet", "--out", "run"),
        match=r"parameters; training needs about [\d.]+ GiB"),
    Row("resume-hidden-edited", ("train", "--out", "run", "--resume", "--epochs", "2", "--quiet"),
        ("run",), _edit_state(train_config=lambda s: s["train_config"].replace(
            '"hidden": [4]', '"hidden": [6]')), match=r"state\.pt: .*do not match"),
    Row("resume-config-not-json", ("train", "--out", "run", "--resume", "--epochs", "2",
                                   "--quiet"),
        ("run",), _edit_state(train_config="{hidden: 4"), match="not a JSON"),
    Row("resume-epoch-not-a-number", ("train", "--out", "run", "--resume", "--epochs", "2",
                                      "--quiet"),
        ("run",), _edit_state(epoch="one"), match="epoch must be a whole number"),
    Row("train-diverges", ("train", "--lr", "1e30", "--hidden", "4", "--epochs", "2", "--quiet",
                           "--out", "a/b/run"), match=r"diverged in epoch 1: .*(NaN|Inf)"),
    # 3. vacuous success
    Row("verify-inputs-no-sequences", ("verify", "net.lstmir", "--inputs", "inputs_no_seqs.npy"),
        ("net.lstmir", "inputs_no_seqs.npy"), match="sequences", lead=True),
    Row("resume-fewer-epochs", ("train", "--out", "run", "--resume", "--epochs", "0", "--quiet"),
        ("run",), match="below the 1 epoch"),
    # 5. resources and messages
    Row("info-ir-member-claims-2gib", ("info", "big.lstmir"), ("big.lstmir",), lead=True),
    Row("verify-ir-member-claims-2gib", ("verify", "big.lstmir"), ("big.lstmir",), lead=True),
    Row("info-truncated-pt", ("info", "cut.pt"), ("cut.pt",), match="truncated",
        forbid=("Invalid argument",)),
    Row("prune-truncated-pt", ("prune", "cut.pt", "--out", "o.pt"), ("cut.pt",),
        match="truncated", forbid=("Invalid argument",)),
    Row("quantize-truncated-pt", ("quantize", "cut.pt", "--calib", "calib.npy", "--out",
                                  "m.lstmir"), ("cut.pt", "calib.npy"), match="truncated",
        forbid=("Invalid argument",)),
    Row("quantize-name-40-letters", (*Q, "--out", "m.lstmir", "--name", "a" * 40), QF,
        match="32"),
    Row("verify-steps-2000", ("verify", "net.lstmir", "--steps", "2000"), ("net.lstmir",),
        match="1024", lead=True),
    Row("calib-times-1e30", (*CAL, "calib_huge.npy"), ("cls.pt", "calib_huge.npy"),
        match=r"calib_huge\.npy: input"),
    Row("prune-tol-negative", ("prune", "cls.pt", "--out", "o.pt", "--tol", "-1"), ("cls.pt",),
        match="--tol"),
    Row("info-json-nan", ("info", "nan_meta.pt", "--json"), ("nan_meta.pt",), code=0,
        check=_strict_json),
    Row("info-raw-pickle", ("info", "raw.pkl"), ("raw.pkl",), match="raw.pkl"),
    Row("import-raw-pickle", ("import", "raw.pkl", "--kind", "lm", "--out", "o.pt"), ("raw.pkl",),
        match="raw.pkl"),
    Row("quantize-respects-umask", (*Q, "--out", "m.lstmir"), QF, code=0,
        check=_mode_644("m.lstmir")),
    Row("import-respects-umask", ("import", "sd.pt", "--kind", "classifier", "--out", "m.pt"),
        ("sd.pt",), code=0, check=_mode_644("m.pt")),
    # found on the way
    Row("info-directory", ("info", "adir"), (), _adir, match="not a file"),
    Row("train-unknown-option", ("train", "--bogus"), match="--bogus"),
    Row("demo-epochs-zero", ("demo", "--epochs", "0", "--out", "d"), match="--epochs"),
    Row("quantize-lm-ids-out-of-range", (*LMCAL, "calib.npy"), ("lm.pt", "calib.npy"),
        match="token ids"),
]


# --------------------------------------------------------------------------------------------
# environments and runners


def _snapshot(root: Path) -> dict[str, tuple]:
    snap = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            p = Path(dirpath) / name
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                kind, digest = "l", os.readlink(p)
            elif stat.S_ISDIR(st.st_mode):
                kind, digest = "d", None
            else:
                kind, digest = "f", hashlib.sha256(p.read_bytes()).hexdigest()
            snap[str(p.relative_to(root))] = (kind, stat.S_IMODE(st.st_mode), digest)
    return snap


def _can_mount() -> bool:
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    with tempfile.TemporaryDirectory() as t:
        ok = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "lstmgen-probe", t],
                            capture_output=True, check=False).returncode == 0
        if ok:
            subprocess.run(["umount", t], capture_output=True, check=False)
    return ok


_MOUNT = _can_mount() and not os.environ.get("LSTMGEN_TEST_NO_MOUNT")


def _fill(path: Path) -> None:
    fd = os.open(path / "filler", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)


def _cli_command() -> list[str]:
    if LSTMGEN.exists():
        return [str(LSTMGEN)]
    return [sys.executable, "-c", "from lstmgen.cli import main; main()"]


def _as_nobody() -> tuple[list[str], dict] | str:
    """How to run the CLI as uid 65534 (a prefix and subprocess keywords), or why not."""
    probe = [*_cli_command(), "--version"]
    setpriv = shutil.which("setpriv")
    tries: list[tuple[list[str], dict]] = []
    if setpriv:
        tries.append(([setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"], {}))
    tries.append(([], {"user": NOBODY, "group": NOBODY, "extra_groups": []}))
    why = "no way to switch users"
    for prefix, kw in tries:
        try:
            proc = subprocess.run([*prefix, *probe], capture_output=True, text=True, timeout=60,
                                  check=False, **kw)
        except OSError as exc:
            why = str(exc)
            continue
        if proc.returncode == 0:
            return prefix, kw
        why = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
    return f"cannot run the CLI as uid {NOBODY}: {why}"


_NOBODY_CACHE: list = []


def _nobody() -> tuple[list[str], dict] | str:
    if not _NOBODY_CACHE:
        _NOBODY_CACHE.append(_as_nobody())
    return _NOBODY_CACHE[0]


def _run_inprocess(case: Path, row: Row, tmpdir: Path, monkeypatch) -> Outcome:
    from click.testing import CliRunner

    from lstmgen.cli import main

    monkeypatch.chdir(case / row.cwd)
    monkeypatch.setattr(tempfile, "tempdir", str(tmpdir))
    threads = torch.get_num_threads()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = CliRunner().invoke(main, list(row.args))
    torch.set_num_threads(threads)
    tb = None
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        import traceback

        tb = "".join(traceback.format_exception(*res.exc_info))
    return Outcome(res.exit_code, res.stdout, res.stderr, tb, [str(w.message) for w in caught])


def _run_subprocess(case: Path, row: Row, tmpdir: Path, *, prefix: tuple = (),
                    kw: dict | None = None, fsize: int | None = None) -> Outcome:
    cmd = [*prefix, *_cli_command()]
    env = {**os.environ, "TMPDIR": str(tmpdir), "PYTHONWARNINGS": "default",
           "OMP_NUM_THREADS": "1"}

    def limit() -> None:
        if fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    kw = kw or {}
    proc = subprocess.run([*cmd, *row.args], cwd=case / row.cwd, env=env, capture_output=True,
                          text=True, timeout=120, check=False,
                          preexec_fn=limit if fsize is not None else None, **kw)
    tb = proc.stderr if "Traceback (most recent call last)" in proc.stderr else None
    return Outcome(proc.returncode, proc.stdout, proc.stderr, tb)


@contextlib.contextmanager
def _environment(row: Row, tmp_path: Path):
    """Yield (case directory, temporary directory, how to run)."""
    if row.env == "readonly":
        if os.geteuid() == 0:
            base = Path(tempfile.mkdtemp(prefix="lstmgen-hostile-"))  # reachable for uid 65534
            os.chmod(base, 0o755)
            mode = "nobody"
        else:
            base, mode = tmp_path, "inprocess"
        case, tmpdir = base / "case", base / "tmp"
        case.mkdir()
        tmpdir.mkdir()
        os.chmod(tmpdir, 0o777)
        (case / "ro").mkdir()
        try:
            yield case, tmpdir, mode
        finally:
            os.chmod(case / "ro", 0o755)
            if base != tmp_path:
                shutil.rmtree(base, ignore_errors=True)
        return
    case, tmpdir = tmp_path / "case", tmp_path / "tmp"
    case.mkdir()
    tmpdir.mkdir()
    if row.env == "full":
        (case / "full").mkdir()
        if _MOUNT:
            subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0755", "lstmgen-full",
                            str(case / "full")], check=True)
            try:
                _fill(case / "full")
                yield case, tmpdir, "inprocess"
            finally:
                if subprocess.run(["umount", str(case / "full")], check=False).returncode:
                    subprocess.run(["umount", "-l", str(case / "full")], check=False)
        else:
            if row.mount_only:
                pytest.skip("needs a full tmpfs (mount is not possible here); with a file size "
                            "limit instead the demo would run to its end before failing")
            yield case, tmpdir, "fsize"
        return
    yield case, tmpdir, "inprocess"


def _lay_out(case: Path, row: Row, assets: Path, readonly: bool) -> None:
    for spec in row.files:
        dst, _, src = spec.partition("=")
        src = src or dst
        if (assets / src).is_dir():
            shutil.copytree(assets / src, case / dst)
        else:
            shutil.copy(assets / src, case / dst)
    if row.setup is not None:
        row.setup(case)
    if readonly:  # inputs readable by everyone, ro/ writable by no one but root
        for p in [case, *case.rglob("*")]:
            os.chmod(p, 0o755 if p.is_dir() else 0o644)
        os.chmod(case / "ro", 0o555)


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_hostile(row: Row, assets: Path, tmp_path: Path, monkeypatch) -> None:
    old_umask = os.umask(0o022)
    try:
        with _environment(row, tmp_path) as (case, tmpdir, mode):
            _lay_out(case, row, assets, row.env == "readonly")
            before = _snapshot(case)
            if mode == "inprocess":
                out = _run_inprocess(case, row, tmpdir, monkeypatch)
            elif mode == "nobody":
                how = _nobody()
                if isinstance(how, str):
                    pytest.skip(how)
                out = _run_subprocess(case, row, tmpdir, prefix=tuple(how[0]), kw=how[1])
            else:
                out = _run_subprocess(case, row, tmpdir, fsize=1)
            after = _snapshot(case)
            leftovers = sorted(p.name for p in tmpdir.iterdir())
            _check(row, out, case, before, after, leftovers)
    finally:
        os.umask(old_umask)


def _check(row: Row, out: Outcome, case: Path, before: dict, after: dict,
           leftovers: list[str]) -> None:
    context = f"exit {out.code}\nstdout: {out.stdout[-2000:]}\nstderr: {out.stderr[-3000:]}"
    assert out.traceback is None, f"traceback:\n{out.traceback}"
    assert out.code == row.code, context
    assert not out.warnings, f"Python warnings (each a line on stderr): {out.warnings}"
    assert not leftovers, f"left in the temporary directory: {leftovers}"
    if row.code != 0:
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1, context
        line = lines[0]
        assert line.startswith("lstmgen: error: "), context
        if row.match is not None:
            assert re.search(row.match, line), f"{row.match!r} not in {line!r}"
        for text in row.forbid:
            assert text not in line, line
        assert after == before, _diff(before, after)
        return
    changed = {k: (before[k], after.get(k)) for k in before if after.get(k) != before[k]}
    assert not changed, f"changed or removed: {changed}"
    new = sorted(set(after) - set(before))
    stray = [n for n in new if n.endswith(".tmp") or Path(n).name.startswith(".lstmgen-")
             and not n.endswith(".lstmgen-manifest.json")]
    assert not stray, f"temporary files left: {stray}"
    if row.check is not None:
        row.check(case, out)


def _diff(before: dict, after: dict) -> str:
    gone = sorted(set(before) - set(after))
    new = sorted(set(after) - set(before))
    changed = sorted(k for k in set(before) & set(after) if before[k] != after[k])
    return f"removed {gone}, new {new}, changed {changed}"


# --------------------------------------------------------------------------------------------
# what the table cannot express: Ctrl-C, memory, other OS errors, end of file


@pytest.mark.parametrize(
    ("exc", "code", "match"),
    [
        (KeyboardInterrupt(), 130, "lstmgen: interrupted"),
        (MemoryError("Unable to allocate 1.46 TiB for an array with shape (200000, 1000000) and "
                     "data type float64"), 2, "out of memory: unable to allocate 1.46 TiB"),
        (RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: not enough "
                      "memory: you tried to allocate 640000000000 bytes."), 2,
         r"out of memory: tried to allocate 596\.0 GiB"),
        (OSError(errno.EIO, "Input/output error", "/dev/sdz"), 2, "/dev/sdz: Input/output error"),
        (EOFError("No data left in file"), 2, "unexpected end of file"),
    ],
)
def test_environmental_failures_are_one_line(monkeypatch, tmp_path, exc, code, match):
    from click.testing import CliRunner

    import lstmgen.commands.model as model_cmd
    from lstmgen.cli import main

    def boom(*a, **k):
        raise exc

    monkeypatch.setattr(model_cmd, "load_checkpoint", boom)
    (tmp_path / "m.pt").write_bytes(b"x")
    res = CliRunner().invoke(main, ["info", str(tmp_path / "m.pt")])
    assert res.exit_code == code, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and re.search(match, lines[0]), lines


def test_a_bug_keeps_its_traceback(monkeypatch, tmp_path):
    from click.testing import CliRunner

    import lstmgen.commands.model as model_cmd
    from lstmgen.cli import main

    monkeypatch.setattr(model_cmd, "load_checkpoint", lambda p: 1 / 0)
    (tmp_path / "m.pt").write_bytes(b"x")
    res = CliRunner().invoke(main, ["info", str(tmp_path / "m.pt")])
    assert isinstance(res.exception, ZeroDivisionError)


def test_interrupted_training_leaves_nothing(monkeypatch, tmp_path):
    from click.testing import CliRunner

    import lstmgen.train as train_mod
    from lstmgen.cli import main

    calls = []
    real = train_mod._write_epoch

    def interrupt(*a, **k):
        calls.append(1)
        real(*a, **k)
        raise KeyboardInterrupt

    monkeypatch.setattr(train_mod, "_write_epoch", interrupt)
    res = CliRunner().invoke(main, ["train", "--hidden", "4", "--epochs", "2", "--quiet",
                                    "--out", str(tmp_path / "a" / "run")])
    assert res.exit_code == 130 and res.stderr.strip() == "lstmgen: interrupted"
    assert calls and list(tmp_path.iterdir()) == []
