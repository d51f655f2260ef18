"""Whole-or-nothing file writes: the store's metadata and pointers, the CLI's forecast CSV."""

from __future__ import annotations

import os

import pytest

from capplan.files import write_atomic


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "out.csv"
    path.write_text("old\n")

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("capplan.files.os.fsync", disk_full)
    with pytest.raises(OSError, match="No space left"):
        write_atomic(path, "new\n" * 1000)
    assert path.read_text() == "old\n" and os.listdir(tmp_path) == ["out.csv"]


def test_a_symlink_keeps_pointing_at_the_file_it_names(tmp_path):
    """os.replace on the link itself turned it into a regular file and left its target unchanged."""
    target = tmp_path / "real.csv"
    target.write_text("old\n")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    write_atomic(link, "new\n")
    assert link.is_symlink() and target.read_text() == "new\n"


def test_the_file_keeps_its_mode_and_a_new_one_follows_the_umask(tmp_path):
    kept = tmp_path / "kept.csv"
    kept.write_text("old\n")
    kept.chmod(0o640)
    write_atomic(kept, "new\n")
    assert kept.stat().st_mode & 0o777 == 0o640
    fresh = tmp_path / "fresh.csv"
    write_atomic(fresh, "new\n")
    umask = os.umask(0)
    os.umask(umask)
    assert fresh.stat().st_mode & 0o777 == 0o666 & ~umask


def test_dev_stdout_through_a_pipe_is_written_to():
    """Resolved, /dev/stdout is /proc/<pid>/fd/pipe:[N], which has no directory to write a file in."""
    import subprocess
    import sys

    code = "from capplan.files import write_atomic; write_atomic('/dev/stdout', 'through a pipe\\n')"
    done = subprocess.run(f'{sys.executable} -c "{code}" | cat', shell=True, capture_output=True, text=True)
    assert done.stdout == "through a pipe\n" and done.stderr == ""


def test_a_target_that_is_not_a_regular_file_is_written_to(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        write_atomic(fifo, "through\n")
        assert os.read(reader, 100) == b"through\n"
    finally:
        os.close(reader)
    assert fifo.exists() and not fifo.is_file()
