"""Private files: written atomically with mode 0600, read back only when still private.

Used for what must not leak or tear: the log's private keys and their metadata, a witness's
key, an auditor's trusted state and evidence.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from ledger.errors import LedgerError


def write_private_file(path: Path, data: bytes, *, replace: bool = True) -> None:
    """Write `data` to `path` atomically: a mode-0600 temporary file in the same folder,
    flushed to disk, renamed over `path`, then the folder flushed (so a reader or a crash
    sees the old file or the new one, never a part). With `replace=False` an existing `path`
    is never overwritten: the temporary file is linked to `path` instead of renamed, and
    FileExistsError is raised when `path` exists. Raises OSError."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(tmp, flags, 0o600)
    try:
        os.fchmod(fd, 0o600)  # exactly 0600, whatever the umask
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)  # atomic, and refuses an existing path (FileExistsError)
            tmp.unlink()
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def read_private_file(path: Path, limit: int, what: str, error: type[LedgerError]) -> bytes:
    """The bytes of `path`, refused (as `error`, naming `what`) unless it is a regular file
    of at most `limit` bytes that neither group nor others may access."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError as exc:
        raise error(f"{what} {path}: expected a file, found none") from exc
    except OSError as exc:
        raise error(f"{what} {path}: cannot be opened ({exc.strerror})") from exc
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise error(f"{what} {path}: expected a regular file")
        if info.st_mode & 0o077:
            raise error(
                f"{what} {path}: expected mode 0600 (no access for group and others), "
                f"found {stat.S_IMODE(info.st_mode):04o}; run chmod 600 on it"
            )
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise error(f"{what} {path}: expected at most {limit} bytes, found more")
    return data
