"""Safe outputs (lstmgen._io) and the one .npy reader (lstmgen.data.arrays)."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from lstmgen import _io
from lstmgen._io import (
    MANIFEST,
    atomic_dir,
    atomic_file,
    check_not_input,
    check_output_file,
    check_tree,
    json_dumps,
    make_dirs,
    prepare_workdir,
    remove_created_dirs,
    write_tree,
)
from lstmgen.data.arrays import load_array
from lstmgen.errors import DataError, OutputError, UsageError

pytestmark = pytest.mark.unit


def snapshot(root: Path) -> dict[str, tuple]:
    """Every path under ``root`` with its type, mode and content hash."""
    snap = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            p = Path(dirpath) / name
            st = os.lstat(p)
            kind = "l" if stat.S_ISLNK(st.st_mode) else "d" if stat.S_ISDIR(st.st_mode) else "f"
            digest = hashlib.sha256(p.read_bytes()).hexdigest() if kind == "f" else None
            snap[str(p.relative_to(root))] = (kind, stat.S_IMODE(st.st_mode), digest)
    return snap


@pytest.fixture
def umask022():
    old = os.umask(0o022)
    yield
    os.umask(old)


# --------------------------------------------------------------------------------------------
# write_tree


def test_write_tree_creates_writes_and_records(tmp_path, umask022):
    out = tmp_path / "a" / "b"
    paths = write_tree(out, {"x.c": "int x;\n", "harness/main.c": b"int main(void){}\n"})
    assert paths == [out / "x.c", out / "harness" / "main.c"]
    assert (out / "x.c").read_text() == "int x;\n"
    for p in (out / "x.c", out / "harness" / "main.c", out / MANIFEST):
        assert stat.S_IMODE(p.stat().st_mode) == 0o644, p
    for d in (tmp_path / "a", out, out / "harness"):
        assert stat.S_IMODE(d.stat().st_mode) == 0o755, d
    doc = json.loads((out / MANIFEST).read_text())
    assert doc["files"] == {
        "harness/main.c": hashlib.sha256(b"int main(void){}\n").hexdigest(),
        "x.c": hashlib.sha256(b"int x;\n").hexdigest(),
    }
    assert not [p for p in out.rglob("*.tmp")]


def test_write_tree_other_umask(tmp_path):
    old = os.umask(0o077)
    try:
        write_tree(tmp_path / "o", {"f": "x"})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "o" / "f").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "o").stat().st_mode) == 0o700


def test_write_tree_rewrites_its_own_files_and_keeps_the_users(tmp_path):
    out = tmp_path / "proj"
    out.mkdir(mode=0o755)
    os.chmod(out, 0o755)
    (out / "app.c").write_text("user code\n")
    write_tree(out, {"m.c": "v1\n", "m.h": "h\n"})
    os.chmod(out / "m.c", 0o640)
    write_tree(out, {"m.c": "v2\n"})
    assert (out / "m.c").read_text() == "v2\n"
    assert stat.S_IMODE((out / "m.c").stat().st_mode) == 0o640  # a replaced file keeps its mode
    assert (out / "app.c").read_text() == "user code\n"
    assert stat.S_IMODE(out.stat().st_mode) == 0o755  # an existing directory is never chmod-ed
    files = json.loads((out / MANIFEST).read_text())["files"]
    assert set(files) == {"m.c", "m.h"}  # entries of files not rewritten are kept


def test_write_tree_refuses_user_files_before_writing_anything(tmp_path):
    out = tmp_path / "proj"
    out.mkdir()
    (out / "b.c").write_text("mine\n")
    before = snapshot(tmp_path)
    with pytest.raises(OutputError, match=r"b\.c: exists and was not written by lstmgen.*--force"):
        write_tree(out, {"a.c": "a", "b.c": "b"})
    assert snapshot(tmp_path) == before
    write_tree(out, {"a.c": "a"})
    (out / "a.c").write_text("edited by the user\n")
    with pytest.raises(OutputError, match=r"a\.c: exists and was not written"):
        write_tree(out, {"a.c": "a"})
    with pytest.raises(OutputError, match=r"and 1 more"):
        write_tree(out, {"a.c": "a", "b.c": "b"})
    write_tree(out, {"a.c": "a", "b.c": "b"}, force=True)
    assert (out / "b.c").read_text() == "b"


def test_write_tree_never_writes_over_an_input(tmp_path):
    out = tmp_path / "proj"
    write_tree(out, {"m.lstmir": b"old"})
    link = tmp_path / "link.lstmir"
    os.link(out / "m.lstmir", link)
    before = snapshot(tmp_path)
    for p in (out / "m.lstmir", link, out / "." / "m.lstmir"):
        with pytest.raises(OutputError, match="input"):
            write_tree(out, {"m.lstmir": b"new"}, force=True, protect=[p])
    assert snapshot(tmp_path) == before


def test_write_tree_into_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_tree(".", {"a.txt": "a", "sub/b.txt": "b"})
    write_tree(".", {"a.txt": "a2"})
    assert Path("a.txt").read_text() == "a2" and Path("sub/b.txt").read_text() == "b"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([MANIFEST, "a.txt", "sub"])


@pytest.mark.parametrize(
    ("setup", "out", "files", "match"),
    [
        (lambda t: (t / "f").write_text("x"), "f", {"a": "a"}, "is not a directory"),
        (lambda t: (t / "f").write_text("x"), "f/sub", {"a": "a"}, "is a file, but a directory"),
        (lambda t: (t / "o").mkdir() or (t / "o" / "sub").write_text("x"), "o",
         {"sub/a": "a"}, "is a file, but a directory"),
        (lambda t: (t / "o" / "a").mkdir(parents=True), "o", {"a": "a"}, "is a directory"),
        (lambda t: None, "o", {"x" * 300: "a"}, "too long"),
        (lambda t: None, "new/" + "y" * 300, {"a": "a"}, "too long"),
        (lambda t: (t / "o").mkdir() or (t / "o" / MANIFEST).write_text("not json"), "o",
         {"a": "a"}, "not written by lstmgen"),
    ],
)
def test_write_tree_refusals_leave_nothing(tmp_path, setup, out, files, match):
    setup(tmp_path)
    before = snapshot(tmp_path)
    with pytest.raises(OutputError, match=match) as info:
        write_tree(tmp_path / out, files)
    assert "\n" not in str(info.value)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EFBIG])
@pytest.mark.parametrize("fail_at", [1, 2, 3])
def test_write_tree_os_errors_leave_nothing(tmp_path, monkeypatch, code, fail_at):
    (tmp_path / "keep").mkdir()
    write_tree(tmp_path / "keep", {"a": "old"})
    before = snapshot(tmp_path)
    real_open = os.open
    calls = []

    def failing_open(path, flags, mode=0o777, *a, **k):
        calls.append(path)
        if len(calls) == fail_at:
            raise OSError(code, os.strerror(code), str(path))
        return real_open(path, flags, mode, *a, **k)

    monkeypatch.setattr(_io.os, "open", failing_open)
    for out in (tmp_path / "new" / "deep", tmp_path / "keep"):
        calls.clear()
        with pytest.raises(OutputError, match=os.strerror(code)) as info:
            write_tree(out, {"a": "new", "sub/b": "b", "c": "c"})
        assert ".tmp" not in str(info.value) and "\n" not in str(info.value)
        assert snapshot(tmp_path) == before


def test_check_tree_writes_nothing(tmp_path):
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "summary.json").write_text("{}")
    check_tree(tmp_path / "new", ["a", "b/c"])
    assert not (tmp_path / "new").exists()
    with pytest.raises(OutputError, match="summary.json"):
        check_tree(tmp_path / "o", ["summary.json"])
    check_tree(tmp_path / "o", ["summary.json"], force=True)


def test_bad_names_are_bugs(tmp_path):
    for name in ("../x", "/abs", "a//b", "./a", MANIFEST, ""):
        with pytest.raises(ValueError):
            write_tree(tmp_path, {name: "x"})


# --------------------------------------------------------------------------------------------
# atomic_file, atomic_dir


def test_atomic_file_mode_and_replace(tmp_path, umask022):
    target = tmp_path / "new" / "m.lstmir"
    with atomic_file(target) as tmp:
        assert tmp.parent == target.parent and tmp.name.endswith(".tmp")
        tmp.write_bytes(b"one")
    assert target.read_bytes() == b"one"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    os.chmod(target, 0o600)
    with atomic_file(target) as tmp:
        tmp.write_bytes(b"two")
    assert target.read_bytes() == b"two" and stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(p.name for p in target.parent.iterdir()) == ["m.lstmir"]


def test_atomic_file_failures_leave_nothing(tmp_path):
    (tmp_path / "dir.pt").mkdir()
    (tmp_path / "file").write_text("x")
    before = snapshot(tmp_path)
    with pytest.raises(OutputError, match="is a directory"), atomic_file(tmp_path / "dir.pt"):
        pass
    with (pytest.raises(OutputError, match="is a file, but a directory"),
          atomic_file(tmp_path / "file" / "x.pt")):
        pass
    with pytest.raises(OutputError, match="too long"), atomic_file(tmp_path / ("n" * 300)):
        pass
    with (pytest.raises(RuntimeError, match="boom"),
          atomic_file(tmp_path / "a" / "b" / "x.pt") as tmp):
        tmp.write_bytes(b"partial")
        raise RuntimeError("boom")
    with (pytest.raises(OutputError, match=r"x\.pt: cannot write: No space left on device") as info,
          atomic_file(tmp_path / "a" / "x.pt") as tmp):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp))
    assert ".tmp" not in str(info.value)
    assert snapshot(tmp_path) == before


def test_atomic_dir_stages_outside_and_writes_file_by_file(tmp_path):
    out = tmp_path / "proj"
    out.mkdir()
    (out / "app.c").write_text("user\n")
    with atomic_dir(out) as tmp:
        assert not tmp.is_relative_to(tmp_path)
        (tmp / "m.c").write_text("m\n")
        (tmp / "sub").mkdir()
        (tmp / "sub" / "x.h").write_text("x\n")
    assert (out / "app.c").read_text() == "user\n"
    assert (out / "sub" / "x.h").read_text() == "x\n"
    assert not tmp.exists()
    before = snapshot(tmp_path)
    with pytest.raises(OutputError, match="app.c"), atomic_dir(out) as tmp:
        (tmp / "app.c").write_text("generated\n")
    with pytest.raises(KeyError), atomic_dir(tmp_path / "other") as tmp:
        (tmp / "x").write_text("x")
        raise KeyError("boom")
    assert not tmp.exists()
    assert snapshot(tmp_path) == before
    with pytest.raises(OutputError, match="not a directory"), atomic_dir(out / "app.c"):
        pytest.fail("the block must not run")


# --------------------------------------------------------------------------------------------
# inputs, single files, work directories, JSON


def test_check_not_input(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("x.pt").write_text("x")
    os.symlink("x.pt", "link.pt")
    for out in ("x.pt", "./x.pt", str(tmp_path / "x.pt"), "link.pt"):
        with pytest.raises(UsageError, match="input"):
            check_not_input(out, "x.pt")
    with pytest.raises(UsageError, match="input"):
        check_not_input("missing.pt", "sub/../missing.pt")
    check_not_input("y.pt", "x.pt", None)


def test_check_output_file(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "user.txt").write_text("x")
    (tmp_path / "ours.bin").write_text("lstmgen")
    with pytest.raises(OutputError, match="is a directory"):
        check_output_file(tmp_path / "d")
    with pytest.raises(OutputError, match="is a file, but a directory"):
        check_output_file(tmp_path / "user.txt" / "x.pt")
    with pytest.raises(OutputError, match="not written by lstmgen; use --force"):
        check_output_file(tmp_path / "user.txt", ours=lambda p: False)
    check_output_file(tmp_path / "user.txt", force=True)
    check_output_file(tmp_path / "ours.bin", ours=lambda p: p.read_text() == "lstmgen")
    with pytest.raises(UsageError, match="input"):
        check_output_file(tmp_path / "ours.bin", force=True, protect=[tmp_path / "ours.bin"])
    check_output_file(tmp_path / "new" / "dir" / "x.pt")
    assert not (tmp_path / "new").exists()


def test_prepare_workdir_and_make_dirs(tmp_path, umask022):
    w = prepare_workdir(tmp_path / "w" / "x")
    assert w.is_dir() and stat.S_IMODE(w.stat().st_mode) == 0o755
    assert prepare_workdir(w) == w
    (tmp_path / "f").write_text("x")
    for bad in (tmp_path / "f", tmp_path / "f" / "sub"):
        with pytest.raises(OutputError, match="--workdir|directory"):
            prepare_workdir(bad)
    created = make_dirs(tmp_path / "p" / "q" / "r")
    assert created == [tmp_path / "p", tmp_path / "p" / "q", tmp_path / "p" / "q" / "r"]
    remove_created_dirs(created)
    assert not (tmp_path / "p").exists()


def test_json_dumps_never_writes_nan():
    text = json_dumps({"a": [float("nan"), 1.5], "b": float("-inf"), "c": {"d": float("inf")}})
    assert json.loads(text, parse_constant=lambda c: pytest.fail(c)) == {
        "a": [None, 1.5], "b": None, "c": {"d": None}}


# --------------------------------------------------------------------------------------------
# load_array


@pytest.fixture
def arrays(tmp_path):
    d = tmp_path
    np.save(d / "ok.npy", np.arange(12, dtype=np.int16).reshape(3, 4))
    (d / "empty.npy").write_bytes(b"")
    np.savez(d / "z.npz", a=np.zeros(3))
    os.replace(d / "z.npz", d / "renamed.npy")
    (d / "random.npy").write_bytes(bytes(range(256)) * 3)
    np.save(d / "objects.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    data = (d / "ok.npy").read_bytes()
    (d / "cut.npy").write_bytes(data[:-3])
    np.save(d / "text.npy", np.array(["a", "b"]))
    np.save(d / "record.npy", np.zeros(2, dtype=[("a", "<i4")]))
    (d / "adir.npy").mkdir()
    return d


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("missing.npy", "no such file"),
        ("empty.npy", r"empty file \(0 bytes\)"),
        ("renamed.npy", r"zip archive \(an \.npz file\?\)"),
        ("random.npy", "not a .npy file"),
        ("objects.npy", "Python objects"),
        ("cut.npy", r"truncated: the header declares shape \(3, 4\)"),
        ("text.npy", "not numeric"),
        ("record.npy", "not numeric"),
        ("adir.npy", "is a directory"),
    ],
)
def test_load_array_errors(arrays, name, match):
    with pytest.raises(DataError, match=match) as info:
        load_array(arrays / name, "input vectors")
    msg = str(info.value)
    assert msg.startswith(f"{arrays / name}: input vectors: ") and "\n" not in msg
    assert "allow_pickle" not in msg


def test_load_array_reads_before_allocating(tmp_path):
    import io

    buf = io.BytesIO()  # a header claiming 2 GiB, and no data
    np.lib.format.write_array_header_1_0(
        buf, {"descr": "<i8", "fortran_order": False, "shape": (1 << 28,)})
    (tmp_path / "huge.npy").write_bytes(buf.getvalue())
    with pytest.raises(DataError, match="2147483648 bytes"):
        load_array(tmp_path / "huge.npy", "inputs")


def test_load_array_ok_and_unreadable(arrays):
    arr = load_array(arrays / "ok.npy", "calibration data")
    assert arr.dtype == np.int16 and arr.shape == (3, 4)
    if os.geteuid() != 0:
        os.chmod(arrays / "ok.npy", 0)
        with pytest.raises(DataError, match="Permission denied"):
            load_array(arrays / "ok.npy", "calibration data")
