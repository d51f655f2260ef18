"""Per-series model store: one directory per series, versioned, atomic, locked.

Layout (``root/<series dir>/``)::

    .lock        flock target; holds the pid of the process that has it
    current      the current version's name ("v3"), replaced atomically
    v1/ v2/ v3/  one complete model each: the model's files + metadata.json
    .tmp-*/      a save in progress (removed if it fails; a killed one is swept by the next save)

Pruning keeps the newest ``keep`` versions and, beyond them, the newest version made by a full train
(``made_by`` "train" in its metadata): a drift can set off a retrain every hour for a day, and each of
those incremental versions would otherwise push the last fully trained model out of the store.

A save writes a whole version into a temporary directory, fsyncs it, renames it into place and only
then swaps ``current``: a crash or a SIGKILL at any moment leaves the previous version current and
loadable.  Every write to one series happens under its lock, so two processes never interleave.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from capplan import __version__, jsonio
from capplan.config import Settings
from capplan.errors import StoreError
from capplan.files import fsync_dir, write_atomic
from capplan.serieskey import SeriesKey

log = logging.getLogger(__name__)

METADATA = "metadata.json"
CURRENT = "current"
# The capacity answer of the forecast last published, beside the versions: `capplan forecast` rewrites
# the forecast without saving a version, and status must show the answer that is in InfluxDB.
CAPACITY = "capacity.json"
LOCK = ".lock"
_VERSION = re.compile(r"^v(\d+)$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_PART_MAX = 40


def _slug(text: str) -> str:
    """Filesystem-safe, readable fragment: ASCII letters, digits, '.', '_' and '-' only, no leading dot."""
    return _UNSAFE.sub("_", text).lstrip(".")[:_PART_MAX] or "_"


def _fsync_tree(path: Path) -> None:
    for item in path.rglob("*"):
        if item.is_file():
            with item.open("rb") as handle:
                os.fsync(handle.fileno())
    for item in [path, *(p for p in path.rglob("*") if p.is_dir())]:
        fsync_dir(item)


def _metadata(version_dir: Path) -> dict[str, Any]:
    """A version's metadata; saves are atomic, so an unreadable one was damaged after the fact."""
    try:
        metadata = json.loads((version_dir / METADATA).read_text())
        if not isinstance(metadata, dict) or not isinstance(metadata.get("series"), str):
            raise ValueError("not an object naming its series")
        return metadata
    except (OSError, ValueError) as exc:
        raise StoreError(
            f"{version_dir} is unreadable ({exc}); roll back with `capplan models rollback` or retrain"
        ) from None


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _made_by(metadata: dict[str, Any]) -> str:
    """ "train" or "retrain"; versions saved before ``made_by`` existed were all full trains."""
    return str(metadata.get("made_by", "train"))


@dataclass(frozen=True)
class VersionInfo:
    version: int
    created: str
    path: Path
    current: bool
    made_by: str = "train"
    problem: str = ""  # why its metadata cannot be read (the version is listed so it can be replaced)


@dataclass(frozen=True)
class StoredSeries:
    key: SeriesKey
    version: int
    path: Path
    metadata: dict[str, Any]  # empty when ``problem`` is set
    problem: str = ""  # why the current version cannot be read (the key comes from another version)


class _HeldLocks(threading.local):
    """Locks this thread already holds, so a use-case can hold a series' lock across load -> save."""

    def __init__(self) -> None:
        self.counts: dict[Path, int] = {}


_held = _HeldLocks()


class ModelStore:
    def __init__(self, root: Path, *, primary_tag: str = "host", keep: int = 5) -> None:
        if keep < 1:
            raise StoreError(f"keep_versions must be at least 1, got {keep}")
        self.root = Path(root)
        self.primary_tag = primary_tag
        self.keep = keep

    @classmethod
    def for_series(cls, settings: Settings, key: SeriesKey | None = None) -> ModelStore:
        """The configured store; a series' spec only shapes its directory name (primary tag), so any
        instance lists and loads every series whose spec is unchanged."""
        spec = settings.spec_for(key.measurement, key.field) if key else settings.spec_for("", "")
        return cls(
            Path(settings.model.store), primary_tag=spec.primary_tag, keep=settings.model.keep_versions
        )

    def series_dir(self, key: SeriesKey) -> Path:
        """``<primary>_<measurement>_<tag values and field>-<hash>``: readable like the original design,
        but safe for any tag value (no separators, no leading dots) and collision-free (the hash is of
        the full key, which metadata.json also records)."""
        values = "_".join(v for _, v in key.tags)
        readable = "_".join(
            [
                _slug(key.primary_value(self.primary_tag) or "-"),
                _slug(key.measurement),
                _slug(f"{values}_{key.field}"),
            ]
        )
        digest = hashlib.sha256(str(key).encode()).hexdigest()[:12]
        return self.root / f"{readable}-{digest}"

    @contextlib.contextmanager
    def lock(self, key: SeriesKey, *, timeout: float | None = None, stored: bool = False) -> Iterator[None]:
        """Exclusive per-series lock across processes (flock). ``timeout=None`` waits; ``0`` fails at once.
        ``stored``: only for a series with a stored model (StoreError otherwise), so a mistyped key in a
        retrain leaves no empty directory behind."""
        directory = self.series_dir(key)
        if stored and not self.stored(key):
            raise self._missing(key)
        if _held.counts.get(directory):
            _held.counts[directory] += 1
            try:
                yield
            finally:
                _held.counts[directory] -= 1
            return
        try:
            directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(directory / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(
                f"{key}: cannot write to the model store {self.root} ({_reason(exc)}); fix its "
                "permissions or point model.store elsewhere"
            ) from None
        try:
            deadline = None if timeout is None else time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES):
                        raise
                    if deadline is not None and time.monotonic() >= deadline:
                        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
                        raise StoreError(
                            f"{key}: being trained by another process (pid {holder}); retry when it finishes"
                        ) from None
                    time.sleep(0.05)
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
            _held.counts[directory] = 1
            try:
                yield
            finally:
                _held.counts.pop(directory, None)
                os.ftruncate(fd, 0)
        finally:
            os.close(fd)  # closing releases the flock

    def _versions(self, directory: Path) -> list[int]:
        if not directory.is_dir():
            return []
        found = [int(m.group(1)) for p in directory.iterdir() if (m := _VERSION.match(p.name))]
        return sorted(v for v in found if (directory / f"v{v}" / METADATA).is_file())

    def _current(self, directory: Path) -> int | None:
        try:
            match = _VERSION.match((directory / CURRENT).read_text().strip())
        except FileNotFoundError:
            return None
        return int(match.group(1)) if match else None

    def save(
        self,
        key: SeriesKey,
        write: Callable[[Path], dict[str, Any]],
        *,
        made_by: str = "train",
        prune: bool = True,
    ) -> int:
        """Store a new version written by ``write(tmpdir) -> model metadata``; returns its number.
        ``made_by`` is "train" for a full fit, "retrain" for an incremental one (see pruning). Without
        ``prune``, old versions stay until ``prune`` is called: a save that may yet be discarded must
        not have pruned the version it would go back to.

        If ``write`` raises, nothing visible changes and the exception propagates; a file-system error
        (a full disk, a read-only mount) becomes a StoreError naming the directory."""
        try:
            return self._save(key, write, made_by, prune)
        except OSError as exc:
            raise StoreError(
                f"{key}: cannot write a model version in {self.series_dir(key)} ({_reason(exc)}); the "
                "current version is unchanged: free space or fix the permissions, then train again"
            ) from exc

    def _save(
        self, key: SeriesKey, write: Callable[[Path], dict[str, Any]], made_by: str, prune: bool
    ) -> int:
        with self.lock(key):
            directory = self.series_dir(key)
            for stale in directory.glob(".tmp-*"):
                shutil.rmtree(stale, ignore_errors=True)
            taken = [int(m.group(1)) for p in directory.iterdir() if (m := _VERSION.match(p.name))]
            version = max(taken, default=0) + 1
            tmp = Path(tempfile.mkdtemp(dir=directory, prefix=".tmp-"))
            try:
                metadata = dict(write(tmp))
                metadata.update(
                    series=str(key),
                    measurement=key.measurement,
                    field=key.field,
                    tags=key.tag_dict,
                    version=version,
                    made_by=made_by,
                    created=datetime.now(UTC).isoformat(timespec="seconds"),
                    capplan_version=__version__,
                )
                (tmp / METADATA).write_text(jsonio.dumps(metadata, indent=2, sort_keys=True))
                _fsync_tree(tmp)
                target = directory / f"v{version}"
                os.rename(tmp, target)
                fsync_dir(directory)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            write_atomic(directory / CURRENT, f"v{version}\n")
            if prune:
                self._prune(directory, version)
            return version

    def prune(self, key: SeriesKey) -> None:
        """Drop versions beyond ``keep`` (never the current one nor the newest trained one)."""
        directory = self.series_dir(key)
        with self.lock(key):
            current = self.current(key)
            if current is not None:
                self._prune(directory, current)

    def _prune(self, directory: Path, current: int) -> None:
        versions = self._versions(directory)
        old = versions[: max(0, len(versions) - self.keep)]
        if not old:
            return
        kept = {current, self._newest_trained(directory, versions)}
        for number in old:
            if number not in kept:
                shutil.rmtree(directory / f"v{number}", ignore_errors=True)

    @staticmethod
    def _newest_trained(directory: Path, versions: list[int]) -> int | None:
        """The newest version a full train made."""
        for number in reversed(versions):
            try:
                if _made_by(_metadata(directory / f"v{number}")) == "train":
                    return number
            except StoreError:
                continue
        return None

    def load(self, key: SeriesKey, version: int | None = None) -> tuple[Path, dict[str, Any]]:
        """Directory and metadata of the current (or a given) version."""
        directory = self.series_dir(key)
        versions = self._versions(directory)
        if not versions:
            raise self._missing(key)
        if version is None:
            version = self._current(directory)
            if version not in versions:  # no pointer yet (first save killed before the swap)
                version = versions[-1]
        elif version not in versions:
            raise StoreError(f"{key}: no version {version}; have {', '.join(map(str, versions))}")
        path = directory / f"v{version}"
        return path, _metadata(path)

    def _missing(self, key: SeriesKey) -> StoreError:
        return StoreError(f"no model for {key} in {self.root}; run `capplan train` first")

    def stored(self, key: SeriesKey) -> bool:
        """Whether any version of ``key`` is stored, readable or not (a damaged one is still rolled back
        from, or replaced by a train)."""
        return bool(self._versions(self.series_dir(key)))

    def versions(self, key: SeriesKey) -> list[VersionInfo]:
        """Every stored version; one whose metadata was damaged after it was written is listed with
        its problem, so the others can still be shown and rolled back to."""
        directory = self.series_dir(key)
        current = self._current(directory)
        out = []
        for number in self._versions(directory):
            path = directory / f"v{number}"
            try:
                metadata = _metadata(path)
            except StoreError as exc:
                out.append(VersionInfo(number, "", path, number == current, "", problem=str(exc)))
                continue
            info = VersionInfo(
                number, metadata.get("created", ""), path, number == current, _made_by(metadata)
            )
            out.append(info)
        return out

    def save_capacity(self, key: SeriesKey, answer: dict[str, Any] | None) -> None:
        """Record the published forecast's capacity answer (None: no threshold, any old one goes)."""
        path = self.series_dir(key) / CAPACITY
        try:
            if answer is None:
                path.unlink(missing_ok=True)
            elif path.parent.is_dir():
                write_atomic(path, jsonio.dumps(answer))
        except OSError as exc:
            raise StoreError(
                f"{key}: cannot record the published capacity in {path} ({_reason(exc)})"
            ) from exc

    def published_capacity(self, key: SeriesKey) -> dict[str, Any] | None:
        """The answer ``save_capacity`` recorded, or None (never published, or unreadable: status then
        falls back to the answer saved with the model version)."""
        try:
            return json.loads((self.series_dir(key) / CAPACITY).read_text())
        except (OSError, ValueError):
            return None

    def current(self, key: SeriesKey) -> int | None:
        """The current version's number, or None when nothing is stored."""
        directory = self.series_dir(key)
        versions = self._versions(directory)
        current = self._current(directory)
        return current if current in versions else (versions[-1] if versions else None)

    def discard(self, key: SeriesKey, version: int, restore: int | None) -> None:
        """Undo ``save`` of ``version`` whose forecast could not be written: ``restore`` (the version
        current before, or None for a first save) is current again and ``version`` is gone, so the store
        never holds a model newer than the forecast Kapacitor compares against."""
        directory = self.series_dir(key)
        with self.lock(key):
            if restore is None:
                (directory / CURRENT).unlink(missing_ok=True)
            else:
                write_atomic(directory / CURRENT, f"v{restore}\n")
            shutil.rmtree(directory / f"v{version}", ignore_errors=True)

    def rollback(self, key: SeriesKey, version: int) -> None:
        directory = self.series_dir(key)
        if not directory.is_dir():  # checked before locking, which would create the directory
            raise StoreError(f"{key}: no stored model; see `capplan models list`")
        with self.lock(key):
            versions = self._versions(directory)
            if version not in versions:
                raise StoreError(
                    f"{key}: no version {version} to roll back to; stored versions are {versions}"
                )
            try:
                _metadata(directory / f"v{version}")
            except StoreError as exc:
                raise StoreError(
                    f"{key}: version {version} is damaged ({exc}); roll back to another one (`capplan models "
                    "show` lists them) or train again"
                ) from None
            try:
                write_atomic(directory / CURRENT, f"v{version}\n")
            except OSError as exc:
                raise StoreError(
                    f"{key}: cannot write {directory / CURRENT} ({_reason(exc)}); the current version is "
                    "unchanged"
                ) from exc

    def list(self) -> list[StoredSeries]:
        out = []
        if not self.root.is_dir():
            return out
        for directory in sorted(p for p in self.root.iterdir() if p.is_dir()):
            versions = self._versions(directory)
            if not versions:
                continue
            current = self._current(directory)
            version = current if current in versions else versions[-1]
            path = directory / f"v{version}"
            try:
                metadata = _metadata(path)
                key = SeriesKey.parse(metadata["series"])
            except (StoreError, ValueError) as exc:
                # One damaged version must not hide every other series; the listing names its key
                # (from a readable version) so it can be rolled back.
                key = self._key_from_any(directory, versions)
                if key is None:
                    log.warning("%s: no readable version, not listed: %s", directory, exc)
                    continue
                log.warning("%s: %s", key, exc)
                out.append(StoredSeries(key, version, path, {}, problem=str(exc)))
                continue
            out.append(StoredSeries(key, version, path, metadata))
        return out

    @staticmethod
    def _key_from_any(directory: Path, versions: list[int]) -> SeriesKey | None:
        for number in reversed(versions):
            try:
                return SeriesKey.parse(_metadata(directory / f"v{number}")["series"])
            except (StoreError, KeyError, TypeError, ValueError):
                continue
        return None
