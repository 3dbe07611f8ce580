"""Safe outputs: never delete or replace anything lstmgen did not write.

The rules every writing command follows:

* a file is written atomically: a temporary file in the same directory, then ``os.replace``;
  on any failure the temporary file is removed and the target is left as it was;
* a directory output is written *into*, file by file (:func:`write_tree`); lstmgen recognises
  its own files by a manifest, ``.lstmgen-manifest.json`` (file name -> sha256 of what lstmgen
  wrote). An existing file that is not in the manifest with its unchanged hash belongs to the
  user: the write is refused, naming the file and ``--force``, before anything is written;
* a command's own inputs (``protect``) are never written over, not even with ``--force``;
* modes follow the umask like any Unix tool (files 0666 & ~umask, directories 0777 & ~umask);
  a replaced file keeps its mode; an existing directory is never chmod-ed;
* a directory created for an output that then fails is removed again; nothing here removes a
  path lstmgen did not create;
* every ``OSError`` (permission denied, read-only file system, disk full, file too large, a
  file where a directory is needed, a name too long) becomes one :class:`OutputError` line
  that names the path.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import math
import os
import secrets
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path, PurePosixPath

from .errors import OutputError, UsageError

__all__ = [
    "MANIFEST",
    "atomic_dir",
    "atomic_file",
    "check_not_input",
    "check_output_file",
    "check_tree",
    "json_dumps",
    "make_dirs",
    "os_error",
    "prepare_workdir",
    "remove_created_dirs",
    "write_tree",
]

#: The file in an output directory that lists what lstmgen wrote there (name -> sha256).
MANIFEST = ".lstmgen-manifest.json"
_MANIFEST_FORMAT = "lstmgen-manifest"

PathLike = str | os.PathLike[str]


# ---------------------------------------------------------------------------------------------
# errors


def os_error(exc: OSError, path: PathLike | None = None, action: str = "cannot write") -> OutputError:
    """Return one :class:`OutputError` line for ``exc``: ``PATH: ACTION: reason``.

    ``path`` names the file the user asked for (default: the exception's file name), so a
    temporary file's name never reaches the user.
    """
    where = path if path is not None else (exc.filename or "")
    reason = exc.strerror or str(exc) or type(exc).__name__
    hint = {
        errno.ENOSPC: " (disk full)",
        errno.EDQUOT: " (disk quota exceeded)",
        errno.EFBIG: " (file size limit)",
    }.get(exc.errno or 0, "")
    return OutputError(f"{where}: {action}: {reason}{hint}" if where else f"{action}: {reason}{hint}")


# ---------------------------------------------------------------------------------------------
# JSON output


def _finite(obj: object) -> object:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def json_dumps(obj: object, **kwargs: object) -> str:
    """``json.dumps`` that writes NaN and ±Infinity as ``null`` (bare NaN is not JSON).

    >>> json_dumps({"ppl": float("inf"), "acc": 0.5})
    '{"ppl": null, "acc": 0.5}'
    """
    return json.dumps(_finite(obj), allow_nan=False, **kwargs)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# small helpers


def _is_dir(p: Path) -> bool:
    try:
        return stat.S_ISDIR(os.stat(p).st_mode)
    except OSError:
        return False


def _lexists(p: Path) -> bool:
    return os.path.lexists(p)


def _name_max(directory: Path) -> int:
    try:
        return int(os.pathconf(directory, "PC_NAME_MAX"))
    except (OSError, ValueError):
        return 255


def _existing_ancestor(p: Path) -> tuple[Path, list[Path]]:
    """The nearest existing ancestor of ``p`` (or ``p``) and the missing directories below it,
    outermost first. Raises OutputError where a path component is not a directory."""
    missing: list[Path] = []
    cur = p
    while not _lexists(cur):
        missing.append(cur)
        parent = cur.parent
        if parent == cur:
            break
        cur = parent
    if not _is_dir(cur):
        tail = f" to write {p}" if cur != p else ""
        raise OutputError(f"{cur}: is a file, but a directory is needed there{tail}")
    for m in missing:
        n = len(os.fsencode(m.name))
        if n > _name_max(cur):
            raise OutputError(f"{m}: cannot create directory: file name too long ({n} bytes)")
    return cur, list(reversed(missing))


def _check_writable(d: Path) -> None:
    """Refuse early (one line) when directory ``d`` cannot be written: no permission, or a
    read-only file system. The write itself still handles every error."""
    if os.access(d, os.W_OK | os.X_OK):
        return
    try:
        readonly = bool(os.statvfs(d).f_flag & os.ST_RDONLY)
    except OSError:
        readonly = False
    reason = os.strerror(errno.EROFS if readonly else errno.EACCES)
    raise OutputError(f"{d}: cannot write: {reason}")


def _make_dirs(dirs: Iterable[Path], created: list[Path]) -> None:
    """Create ``dirs`` (parents first; mode 0777 & ~umask), appending each to ``created``."""
    for d in dirs:
        try:
            os.mkdir(d)
        except FileExistsError:
            if not _is_dir(d):
                raise OutputError(f"{d}: is a file, but a directory is needed there") from None
            continue
        except OSError as exc:
            raise os_error(exc, d, "cannot create directory") from None
        created.append(d)


def _remove_dirs(created: list[Path]) -> None:
    """Remove directories this process created (innermost first), if they are empty."""
    for d in reversed(created):
        with contextlib.suppress(OSError):
            os.rmdir(d)
    created.clear()


def _temp_path(directory: Path, mode: int | None = None) -> Path:
    """Create an empty temporary file in ``directory`` (0666 & ~umask, or ``mode``).

    Short names, so a long target name never makes the temporary name too long.
    """
    for _ in range(100):
        tmp = directory / f".lstmgen-{secrets.token_hex(6)}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        except FileExistsError:
            continue
        try:
            if mode is not None:
                os.fchmod(fd, mode)
        finally:
            os.close(fd)
        return tmp
    raise FileExistsError(errno.EEXIST, "cannot create a temporary file", str(directory))


def _write_temp(directory: Path, data: bytes, mode: int | None) -> Path:
    tmp = _temp_path(directory, mode)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return tmp


def _file_mode(p: Path) -> int | None:
    """Permission bits of an existing regular file ``p`` (a replaced file keeps them)."""
    try:
        st = os.stat(p)
    except OSError:
        return None
    return stat.S_IMODE(st.st_mode) if stat.S_ISREG(st.st_mode) else None


def _sha256_file(p: Path) -> str | None:
    h = hashlib.sha256()
    try:
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except OSError:
        return None
    return h.hexdigest()


def _same_file(a: Path, b: PathLike) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        try:
            return a.resolve() == Path(b).resolve()
        except (OSError, RuntimeError):
            return False


# ---------------------------------------------------------------------------------------------
# inputs and single files


def check_not_input(out: PathLike, *inputs: PathLike | None, option: str = "--out") -> None:
    """Refuse (UsageError) when output ``out`` is the same file as one of ``inputs``.

    Compares by inode where both exist (hard links, symlinks, ``./x`` vs ``x``) and by resolved
    path otherwise; ``None`` inputs are skipped.

    >>> check_not_input("a.lstmir", "b.pt")
    """
    o = Path(out)
    for inp in inputs:
        if inp is None:
            continue
        both_exist = _lexists(o) and _lexists(Path(inp))
        if (both_exist and _same_file(o, inp)) or (
            not both_exist and os.path.abspath(o) == os.path.abspath(inp)
        ):
            raise UsageError(
                f"{option} {out} is the input {inp}; lstmgen never writes over its own input"
            )


def check_output_file(path: PathLike, *, force: bool = False, protect: Iterable[PathLike] = (),
                      ours: Callable[[Path], bool] | None = None, option: str = "--out") -> None:
    """Check that a single output file may be written, before any work is done.

    Refuses: a directory at ``path``; a file where a parent directory is needed; a directory
    that cannot be written (permissions, read-only file system); a name too long; one of the
    command's inputs (``protect``, even with ``force``); an existing file that ``ours`` does not
    recognise as lstmgen's (unless ``force``; ``ours=None`` recognises nothing).
    """
    p = Path(path)
    check_not_input(p, *protect, option=option)
    if _is_dir(p):
        raise OutputError(f"{option} {p}: is a directory; give a file name")
    anc, _ = _existing_ancestor(p.parent)
    _check_writable(anc)
    if not _lexists(p):
        n = len(os.fsencode(p.name))
        if n > 255:
            raise OutputError(f"{p}: cannot write: file name too long ({n} bytes)")
        return
    if force:
        return
    if ours is None or not ours(p):
        raise OutputError(
            f"{p}: exists and was not written by lstmgen; use --force to replace it"
        )


@contextlib.contextmanager
def atomic_file(target: PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; it is renamed onto ``target`` on success.

    Missing parent directories are created (and removed again on failure). The temporary file
    is created 0666 & ~umask (a replaced file keeps its mode). On any failure the temporary
    file is removed and ``target`` is unchanged; an ``OSError`` (also one raised by the block
    while writing the temporary file) becomes one :class:`OutputError` line naming ``target``.
    An existing directory at ``target`` is refused.
    """
    target = Path(target)
    if _is_dir(target) and not target.is_symlink():
        raise OutputError(f"{target}: is a directory; lstmgen will not replace it with a file")
    if _is_dir(target):
        raise OutputError(f"{target}: is a link to a directory; lstmgen will not replace it")
    n = len(os.fsencode(target.name))
    if n > 255:
        raise OutputError(f"{target}: cannot write: file name too long ({n} bytes)")
    parent = target.parent
    created: list[Path] = []
    _, missing = _existing_ancestor(parent)
    tmp: Path | None = None
    try:
        _make_dirs(missing, created)
        try:
            tmp = _temp_path(parent, _file_mode(target))
        except OSError as exc:
            raise os_error(exc, target) from None
        try:
            yield tmp
        except OSError as exc:
            fn = exc.filename
            raise os_error(exc, target if fn in (None, str(tmp), tmp) else fn) from None
        try:
            os.replace(tmp, target)
        except OSError as exc:
            raise os_error(exc, target) from None
        tmp = None
        created.clear()
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        _remove_dirs(created)


# ---------------------------------------------------------------------------------------------
# directories


def make_dirs(path: PathLike) -> list[Path]:
    """Create directory ``path`` and missing parents (0777 & ~umask); return those created,
    outermost first, for :func:`remove_created_dirs`. On failure (a file in the way, no
    permission, ...) removes what it created and raises one :class:`OutputError` line."""
    p = Path(path)
    if _lexists(p) and not _is_dir(p):
        raise OutputError(f"{p}: exists and is not a directory")
    _, missing = _existing_ancestor(p)
    created: list[Path] = []
    try:
        _make_dirs(missing, created)
    except BaseException:
        _remove_dirs(created)
        raise
    return list(created)


def remove_created_dirs(created: list[Path]) -> None:
    """Remove the directories :func:`make_dirs` created, innermost first, where still empty."""
    _remove_dirs(list(created))


def prepare_workdir(path: PathLike, *, option: str = "--workdir") -> Path:
    """Create directory ``path`` if missing (0777 & ~umask, with parents) and return it.

    Raises one :class:`OutputError` line when ``path`` is a file, a parent is a file, or it
    cannot be created or written. Call it once the command's inputs are validated: a directory
    it created stays (the user asked to keep the build there).
    """
    p = Path(path)
    if _lexists(p) and not _is_dir(p):
        raise OutputError(f"{option} {p}: is a file, not a directory")
    created = make_dirs(p)
    if not os.access(p, os.W_OK | os.X_OK):
        _remove_dirs(created)
        raise OutputError(f"{option} {p}: cannot write: Permission denied")
    return p


def _read_manifest(out: Path) -> tuple[dict[str, str], bool]:
    """Entries of ``out``'s manifest and whether the manifest file is lstmgen's (or absent)."""
    p = out / MANIFEST
    if not _lexists(p):
        return {}, True
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}, False
    files = doc.get("files") if isinstance(doc, dict) else None
    if (not isinstance(doc, dict) or doc.get("format") != _MANIFEST_FORMAT
            or not isinstance(files, dict)
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items())):
        return {}, False
    return dict(files), True


def _check_names(names: Iterable[str]) -> list[str]:
    out = []
    for name in names:
        pp = PurePosixPath(name)
        if (not name or pp.is_absolute() or any(part in ("", ".", "..") for part in name.split("/"))
                or "\\" in name or "\0" in name):
            raise ValueError(f"write_tree: bad file name {name!r}")
        if name == MANIFEST:
            raise ValueError(f"write_tree: {MANIFEST} is lstmgen's own manifest")
        out.append(name)
    return out


def _plan(out: Path, names: list[str], force: bool, protect: Iterable[PathLike]) -> list[Path]:
    """Check everything :func:`write_tree` needs; return the directories to create (in order)."""
    protect = [p for p in protect if p is not None]
    if _lexists(out) and not _is_dir(out):
        raise OutputError(f"{out}: exists and is not a directory")
    anc, missing = _existing_ancestor(out)
    _check_writable(anc)
    to_create: list[Path] = list(missing)
    seen = set(to_create)
    manifest, manifest_ok = _read_manifest(out) if not missing else ({}, True)
    conflicts: list[Path] = []
    if not manifest_ok:
        mp = out / MANIFEST
        if _is_dir(mp):
            raise OutputError(f"{mp}: is a directory; lstmgen will not replace it")
        if not force:
            conflicts.append(mp)
    limit = _name_max(out if not missing else _existing_ancestor(out)[0])
    for name in names:
        parts = name.split("/")
        for part in parts:
            if len(os.fsencode(part)) > limit:
                raise OutputError(f"{out / name}: cannot write: file name too long")
        d = out
        for part in parts[:-1]:
            d = d / part
            if d in seen:
                continue
            if _lexists(d):
                if not _is_dir(d):
                    raise OutputError(f"{d}: is a file, but a directory is needed there")
            else:
                to_create.append(d)
                seen.add(d)
        target = out / name
        if not _lexists(target):
            continue
        if _is_dir(target):
            raise OutputError(f"{target}: is a directory; lstmgen will not replace it with a file")
        for inp in protect:
            if _same_file(target, inp):
                raise OutputError(
                    f"{target}: is an input of this command; lstmgen never writes over its input"
                )
        if force:
            continue
        if manifest.get(name) is None or manifest[name] != _sha256_file(target):
            conflicts.append(target)
    if conflicts:
        more = f" (and {len(conflicts) - 1} more)" if len(conflicts) > 1 else ""
        raise OutputError(
            f"{conflicts[0]}: exists and was not written by lstmgen{more}; "
            "use --force to overwrite"
        )
    return to_create


def check_tree(out_dir: PathLike, names: Iterable[str], *, force: bool = False,
               protect: Iterable[PathLike] = ()) -> None:
    """Raise what :func:`write_tree` would raise before writing ``names``; write nothing.

    Lets a long command (the demo) refuse before it starts its work.
    """
    _plan(Path(out_dir), _check_names(names), force, protect)


def write_tree(out_dir: PathLike, files: Mapping[str, str | bytes], *, force: bool = False,
               protect: Iterable[PathLike] = ()) -> list[Path]:
    """Write ``files`` (name -> text or bytes; names may hold ``/`` sub-folders) into ``out_dir``.

    ``out_dir`` may exist (``.`` works) or not (it is created, with parents). Every check runs
    before anything is written: an existing file that lstmgen's manifest does not list with its
    current hash is the user's and is refused unless ``force``; a path in ``protect`` (the
    command's inputs, compared by inode) is refused even with ``force``; a file where a
    directory is needed, a directory where a file goes and names too long are refused. Then
    every file goes to a temporary file in its own directory, and only once all are complete
    are they renamed into place, with the updated manifest last. On failure no temporary file
    and no directory created here is left, and no existing file has changed. Text is UTF-8.
    Returns the paths written, in the order of ``files``.
    """
    out = Path(out_dir)
    names = _check_names(files)
    protect = list(protect)
    to_create = _plan(out, names, force, protect)
    blobs = {n: (v.encode("utf-8") if isinstance(v, str) else bytes(v)) for n, v in files.items()}
    old, ok = _read_manifest(out) if _is_dir(out) else ({}, True)
    entries = {k: v for k, v in old.items() if ok and k not in blobs and (out / k).is_file()}
    entries.update({n: hashlib.sha256(b).hexdigest() for n, b in blobs.items()})
    manifest = json.dumps({"format": _MANIFEST_FORMAT, "version": 1,
                           "files": dict(sorted(entries.items()))}, indent=1) + "\n"
    created: list[Path] = []
    pending: list[tuple[Path, Path]] = []
    current: Path | None = None
    try:
        _make_dirs(to_create, created)
        for name, data in [*blobs.items(), (MANIFEST, manifest.encode())]:
            current = out / name
            tmp = _write_temp(current.parent, data, _file_mode(current))
            pending.append((tmp, current))
        while pending:
            tmp, current = pending[0]
            os.replace(tmp, current)
            pending.pop(0)
        created.clear()
    except OSError as exc:
        raise os_error(exc, current if current is not None else out) from None
    finally:
        for tmp, _ in pending:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        _remove_dirs(created)
    return [out / n for n in names]


@contextlib.contextmanager
def atomic_dir(target: PathLike, *, force: bool = False,
               protect: Iterable[PathLike] = ()) -> Iterator[Path]:
    """Yield an empty staging directory; on success its files are written into ``target`` with
    :func:`write_tree` (same refusals: user files, inputs; nothing is deleted).

    The staging directory lives in the system temporary directory and is always removed. The
    block's own exceptions pass through unchanged; ``target`` is checked before the block runs.
    Prefer :func:`write_tree` when the files are in memory.
    """
    target = Path(target)
    protect = list(protect)
    _plan(target, [], force, protect)
    try:
        staging = Path(tempfile.mkdtemp(prefix="lstmgen-"))
    except OSError as exc:
        raise os_error(exc, tempfile.gettempdir(), "cannot create a temporary directory") from None
    try:
        yield staging
        files: dict[str, bytes] = {}
        for root, dirs, names in os.walk(staging):
            dirs.sort()
            for n in sorted(names):
                p = Path(root) / n
                rel = p.relative_to(staging).as_posix()
                if rel == MANIFEST or p.is_symlink() or not p.is_file():
                    continue
                files[rel] = p.read_bytes()
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # our own temporary directory
    write_tree(target, files, force=force, protect=protect)
