"""Files replaced whole or not at all: a crash, a full disk or a kill mid-write leaves the old file."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


# Read once, at import: setting the umask to read it is process-wide, and a thread creating a file at
# that moment would get mode 0o666.
UMASK = _umask()


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, text: str) -> None:
    """``text`` in ``path``, with the permissions the file had (or a new file gets).

    Through a symlink, the file it points to is replaced (the link stays). A target that is not a
    regular file (/dev/stdout, a FIFO) cannot be replaced, and is written to directly; so is
    /dev/stdout redirected to a file, which the shell may be appending to."""
    try:
        mode = os.stat(path).st_mode  # follows links, /proc's too: /dev/stdout -> pipe:[N] has no path
    except FileNotFoundError:
        mode = stat.S_IFREG | (0o666 & ~UMASK)
    if not stat.S_ISREG(mode) or str(path).startswith(("/dev/", "/proc/")):
        with open(path, "w") as handle:
            handle.write(text)
        return
    target = Path(os.path.realpath(path))
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        os.fchmod(fd, stat.S_IMODE(mode))
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(target.parent)
