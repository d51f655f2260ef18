"""Model store: naming safe for any tag value, atomic versioned saves, locks, rollback, crash safety."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capplan.errors import StoreError
from capplan.serieskey import SeriesKey
from capplan.store import ModelStore

KEY = SeriesKey.of("disk", "used_percent", {"host": "db 1", "path": "/dev/sda1"})


def _writer(payload: str):
    def write(directory: Path) -> dict:
        (directory / "weights.bin").write_text(payload)
        return {"model": "linear", "payload": payload}

    return write


def test_save_load_versions_and_prune(tmp_path):
    store = ModelStore(tmp_path, keep=3)
    for i in range(1, 6):
        assert store.save(KEY, _writer(f"w{i}")) == i
    path, meta = store.load(KEY)
    assert meta["version"] == 5 and meta["series"] == str(KEY) and meta["tags"] == KEY.tag_dict
    assert (path / "weights.bin").read_text() == "w5"
    assert [v.version for v in store.versions(KEY)] == [3, 4, 5]
    assert store.load(KEY, 3)[1]["payload"] == "w3"
    with pytest.raises(StoreError, match="no version 1; have 3, 4, 5"):
        store.load(KEY, 1)


def test_a_discarded_save_goes_back_to_the_version_before_even_at_the_keep_limit(tmp_path):
    """Pruned at the save, the version to go back to was gone when the forecast write failed, and the
    one the operator had rolled away from became current again (review)."""
    store = ModelStore(tmp_path, keep=3)
    for i in range(1, 4):
        store.save(KEY, _writer(f"w{i}"))
    store.rollback(KEY, 1)
    version = store.save(KEY, _writer("w4"), prune=False)
    store.discard(KEY, version, 1)
    assert store.current(KEY) == 1 and store.load(KEY)[1]["payload"] == "w1"
    assert [v.version for v in store.versions(KEY)] == [1, 2, 3]
    assert store.save(KEY, _writer("w4 again"), prune=False) == 4
    assert [v.version for v in store.versions(KEY)] == [1, 2, 3, 4]
    store.prune(KEY)
    assert [v.version for v in store.versions(KEY)] == [2, 3, 4] and store.current(KEY) == 4


def test_pruning_keeps_the_newest_fully_trained_version_through_a_run_of_retrains(tmp_path):
    store = ModelStore(tmp_path, keep=3)
    store.save(KEY, _writer("old train"))
    store.save(KEY, _writer("train"))
    for i in range(6):  # a day of hourly drift retrains
        store.save(KEY, _writer(f"retrain {i}"), made_by="retrain")
    assert [(v.version, v.made_by) for v in store.versions(KEY)] == [
        (2, "train"),
        (6, "retrain"),
        (7, "retrain"),
        (8, "retrain"),
    ]
    store.save(KEY, _writer("new train"))
    assert [v.version for v in store.versions(KEY)] == [7, 8, 9]


def test_rollback_of_an_unknown_series_creates_nothing(tmp_path):
    store = ModelStore(tmp_path)
    with pytest.raises(StoreError, match="no stored model"):
        store.rollback(KEY, 1)
    assert list(tmp_path.iterdir()) == []


def test_rollback_then_save_continues_numbering(tmp_path):
    store = ModelStore(tmp_path, keep=5)
    for i in range(3):
        store.save(KEY, _writer(f"w{i}"))
    store.rollback(KEY, 1)
    assert store.load(KEY)[1]["payload"] == "w0"
    assert [v.current for v in store.versions(KEY)] == [True, False, False]
    assert store.save(KEY, _writer("new")) == 4
    with pytest.raises(StoreError, match="no version 9 to roll back to"):
        store.rollback(KEY, 9)


def test_failed_write_changes_nothing(tmp_path):
    store = ModelStore(tmp_path)
    store.save(KEY, _writer("good"))

    def broken(directory: Path) -> dict:
        (directory / "half.bin").write_text("partial")
        raise RuntimeError("training diverged")

    with pytest.raises(RuntimeError, match="diverged"):
        store.save(KEY, broken)
    assert store.load(KEY)[1]["payload"] == "good"
    assert sorted(p.name for p in store.series_dir(KEY).iterdir()) == [".lock", "current", "v1"]


def test_missing_series_says_what_to_do(tmp_path):
    with pytest.raises(StoreError, match=r"no model for .* run `capplan train` first"):
        ModelStore(tmp_path).load(KEY)


def test_list_recovers_keys_from_metadata(tmp_path):
    store = ModelStore(tmp_path)
    other = SeriesKey.of("cpu", "usage_user", {"host": "o'brien,x=y", "cpu": "cpu-total"})
    store.save(KEY, _writer("a"))
    store.save(other, _writer("b"))
    assert {s.key for s in store.list()} == {KEY, other}


def test_a_damaged_current_version_is_listed_by_key_and_does_not_hide_the_others(tmp_path):
    store = ModelStore(tmp_path)
    other = SeriesKey.of("cpu", "usage_user", {"host": "a"})
    store.save(KEY, _writer("a"))
    store.save(KEY, _writer("b"))
    store.save(other, _writer("c"))
    path, _ = store.load(KEY)
    (path / "metadata.json").write_text('{"trunc')
    listed = {s.key: s for s in store.list()}
    assert set(listed) == {KEY, other} and not listed[other].problem
    assert listed[KEY].version == 2 and "unreadable" in listed[KEY].problem and listed[KEY].metadata == {}


_tag_text = st.text(min_size=0, max_size=60)


@settings(max_examples=300, deadline=None)
@given(
    measurement=st.text(min_size=1, max_size=40),
    field=st.text(min_size=1, max_size=40),
    tags=st.dictionaries(st.text(min_size=1, max_size=20), _tag_text, max_size=4),
)
def test_directory_names_are_safe_and_unique(tmp_path_factory, measurement, field, tags):
    root = Path("/srv/models")
    key = SeriesKey.of(measurement, field, tags)
    directory = ModelStore(root).series_dir(key)
    assert directory.parent == root  # one component: no traversal, no nesting
    name = directory.name
    assert "/" not in name and not name.startswith(".") and name not in ("", ".", "..")
    assert len(name.encode()) < 200
    assert directory == ModelStore(root).series_dir(SeriesKey.parse(str(key)))  # stable through the text form
    twin = SeriesKey.of(measurement, field, {**tags, "zz_extra": "1"})
    assert ModelStore(root).series_dir(twin) != directory


def test_awkward_names_stay_inside_root(tmp_path):
    store = ModelStore(tmp_path)
    for value in ["../etc", "/dev/sda1", "..", "a/../../b", "srv 1", "naïve ☃", "x" * 500]:
        key = SeriesKey.of("disk", "used", {"host": value})
        store.save(key, _writer(value))
        assert store.series_dir(key).resolve().parent == tmp_path.resolve()
        assert store.load(key)[1]["payload"] == value
    assert store.series_dir(SeriesKey.of("m", "f", {"host": "a_b"})) != store.series_dir(
        SeriesKey.of("m", "f", {"host": "a b"})
    )


_SAVER = """
import sys, time
from pathlib import Path
from capplan.serieskey import SeriesKey
from capplan.store import ModelStore
store = ModelStore(Path(sys.argv[1]))
key = SeriesKey.parse(sys.argv[2])
def write(directory):
    for i in range(20):
        (directory / f"part{i}.bin").write_bytes(b"x" * 20000)
    return {"payload": "killed-run"}
print("ready", flush=True)
while True:
    store.save(key, write)
"""


def test_sigkill_during_saves_never_loses_the_previous_version(tmp_path):
    store = ModelStore(tmp_path, keep=3)
    store.save(KEY, _writer("baseline"))
    rng = __import__("random").Random(7)
    killed_mid_save = 0
    for _ in range(50):
        proc = subprocess.Popen(
            [sys.executable, "-c", _SAVER, str(tmp_path), str(KEY)], stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 0.05))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        killed_mid_save += any(store.series_dir(KEY).glob(".tmp-*"))
        path, meta = store.load(KEY)  # always a complete version
        assert meta["version"] >= 1
        assert (path / "metadata.json").is_file()
        expected = "weights.bin" if meta["payload"] == "baseline" else "part19.bin"
        assert (path / expected).is_file()
    assert killed_mid_save >= 10  # the kills really landed inside saves, not only between them
    assert store.save(KEY, _writer("after")) > 1
    assert not any(store.series_dir(KEY).glob(".tmp-*"))  # the killed saves' leftovers are swept
    assert store.load(KEY)[1]["payload"] == "after"


def _hold_lock(root: str, key: str, ready, release) -> None:
    store = ModelStore(Path(root))
    with store.lock(SeriesKey.parse(key)):
        ready.set()
        release.wait(10)


def test_second_process_waits_or_fails_clearly(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(str(tmp_path), str(KEY), ready, release))
    holder.start()
    try:
        assert ready.wait(10)
        store = ModelStore(tmp_path)
        with (
            pytest.raises(StoreError, match=rf"being trained by another process \(pid {holder.pid}\)"),
            store.lock(KEY, timeout=0.2),
        ):
            pass
        release.set()
        started = time.monotonic()
        assert store.save(KEY, _writer("after wait")) == 1  # waits for the holder, then saves
        assert time.monotonic() - started < 10
    finally:
        release.set()
        holder.join(10)


def test_concurrent_saves_all_land_as_distinct_versions(tmp_path):
    script = (
        "import sys; from pathlib import Path; from capplan.store import ModelStore; "
        "from capplan.serieskey import SeriesKey; s = ModelStore(Path(sys.argv[1]), keep=50); "
        "k = SeriesKey.parse(sys.argv[2]); "
        "w = lambda d: (d.joinpath('w').write_text('x'), {'payload': sys.argv[3]})[1]; "
        "[s.save(k, w) for _ in range(5)]"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(tmp_path), str(KEY), str(i)]) for i in range(4)
    ]
    assert [p.wait(60) for p in procs] == [0, 0, 0, 0]
    store = ModelStore(tmp_path, keep=50)
    assert [v.version for v in store.versions(KEY)] == list(range(1, 21))
    for info in store.versions(KEY):
        assert json.loads((info.path / "metadata.json").read_text())["version"] == info.version


def test_damaged_metadata_is_a_store_error(tmp_path):
    store = ModelStore(tmp_path)
    store.save(KEY, _writer("one"))
    path, _ = store.load(KEY)
    (path / "metadata.json").write_text("{not json")
    with pytest.raises(StoreError, match=r"v1 is unreadable .* roll back with `capplan models rollback`"):
        store.load(KEY)
    assert store.list() == []  # no version names the series: logged with its directory, not listed


def test_a_damaged_old_version_leaves_the_others_usable_and_can_be_rolled_away_from(tmp_path):
    """Reading every version's metadata used to raise on the damaged one, and the CLI's series lookup,
    ``models show``, rollback and the exec hook all failed with it."""
    store = ModelStore(tmp_path)
    for payload in ("one", "two", "three"):
        store.save(KEY, _writer(payload))
    (tmp_path / store.series_dir(KEY).name / "v1" / "metadata.json").write_text("{not json")
    assert store.stored(KEY)
    infos = store.versions(KEY)
    assert [(v.version, bool(v.problem)) for v in infos] == [(1, True), (2, False), (3, False)]
    assert "v1 is unreadable" in infos[0].problem and infos[2].current
    store.rollback(KEY, 2)
    assert store.load(KEY)[1]["payload"] == "two"
    with pytest.raises(StoreError, match=r"version 1 is damaged .* roll back to another one"):
        store.rollback(KEY, 1)  # no way back to a damaged version
    assert store.load(KEY)[1]["payload"] == "two"


def test_a_version_that_cannot_be_written_is_a_store_error_naming_the_directory(tmp_path):
    store = ModelStore(tmp_path)
    store.save(KEY, _writer("one"))

    def disk_full(directory: Path) -> dict:
        raise OSError(28, "No space left on device")

    with pytest.raises(StoreError, match=r"cannot write a model version in .*\(No space left on device\)"):
        store.save(KEY, disk_full)
    assert store.load(KEY)[1]["payload"] == "one"
    assert [v.version for v in store.versions(KEY)] == [1]


def test_the_published_capacity_answer_lives_beside_the_versions(tmp_path):
    store = ModelStore(tmp_path)
    store.save(KEY, _writer("a"))
    assert store.published_capacity(KEY) is None
    store.save_capacity(KEY, {"threshold": 90.0, "seconds_to_threshold": 3600})
    assert store.published_capacity(KEY) == {"threshold": 90.0, "seconds_to_threshold": 3600}
    assert [s.key for s in store.list()] == [KEY] and [v.version for v in store.versions(KEY)] == [1]
    store.save_capacity(KEY, None)  # the threshold was removed from the configuration
    assert store.published_capacity(KEY) is None
