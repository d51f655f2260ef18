"""Run every method on the same panels in one process and write a markdown table plus JSON.

Usage: ``python -m bench.accuracy [--panel long|short|all] [--methods ...] [--output bench/results.md]``.
Seconds are wall-clock fit+forecast per series; pin the process (``taskset -c 0``) for one-core figures.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import logging
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from bench import data, metrics
from bench.methods import METHODS, REFERENCES

log = logging.getLogger(__name__)

# The figures depend on these: pandas and the reference libraries differ between the main venv and the
# bench one (statsforecast pins pandas < 3), and Prophet's numbers move with pandas.
LIBRARIES = ("numpy", "pandas", "statsforecast", "prophet", "keras", "jax")


@dataclass(frozen=True)
class Row:
    panel: str
    series: str
    method: str
    mase: float
    smape: float
    coverage: float
    seconds: float
    note: str
    labelled: bool  # the window overlaps a NAB-labelled anomaly (see data.Case)


def evaluate(panel: str, case: data.Case, method: str) -> Row:
    """Fit+forecast one series with one method; a failure is a row of NaN naming the error."""
    h = len(case.test)
    actual = case.test.to_numpy(dtype=float)
    started = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # reference libraries' deprecation chatter
            pred = METHODS[method](case.train, h)
    except Exception as exc:  # a method failing on a series is a result, not a crash of the run
        log.warning("%s on %s failed: %s", method, case.name, exc)
        nan = float("nan")
        seconds, note = time.perf_counter() - started, f"failed: {exc}"
        return Row(panel, case.name, method, nan, nan, nan, seconds, note, case.labelled)
    seconds = time.perf_counter() - started
    return Row(
        panel=panel,
        series=case.name,
        method=method,
        mase=metrics.mase(case.train.to_numpy(dtype=float), actual, pred.yhat),
        smape=metrics.smape(actual, pred.yhat),
        coverage=metrics.coverage(actual, pred.lower, pred.upper),
        seconds=seconds,
        note=pred.note,
        labelled=case.labelled,
    )


def summarise(rows: list[Row], methods: list[str]) -> dict[str, dict[str, float]]:
    """Mean and median of each figure per method (NaN rows, i.e. failures, left out and counted)."""
    out = {}
    for method in methods:
        mine = [r for r in rows if r.method == method]
        ok = [r for r in mine if np.isfinite(r.mase)]
        figures: dict[str, float] = {"series": len(mine), "failed": len(mine) - len(ok)}
        for key in ("mase", "smape", "coverage", "seconds"):
            values = [getattr(r, key) for r in ok] or [float("nan")]
            figures[f"mean_{key}"] = float(np.mean(values))
            figures[f"median_{key}"] = float(statistics.median(values))
        out[method] = figures
    return out


def capplan_ratio(summary: dict[str, dict[str, float]]) -> dict[str, float | str] | None:
    """capplan's mean and median MASE over the best reference method's (by mean MASE)."""
    refs = [m for m in REFERENCES if m in summary and np.isfinite(summary[m]["mean_mase"])]
    if "capplan" not in summary or not refs:
        return None
    best = min(refs, key=lambda m: summary[m]["mean_mase"])
    naive = [m for m in refs if m.startswith("snaive")]
    best_naive = min(naive, key=lambda m: summary[m]["mean_mase"]) if naive else best
    cap = summary["capplan"]
    return {
        "best_reference": best,
        "mean_mase_ratio": cap["mean_mase"] / summary[best]["mean_mase"],
        "median_mase_ratio": cap["median_mase"] / summary[best]["median_mase"],
        "best_naive": best_naive,
        "mean_mase_ratio_to_naive": cap["mean_mase"] / summary[best_naive]["mean_mase"],
    }


def bounds(rows: list[Row]) -> dict[str, float | list[str]] | None:
    """What the targets ask of this panel, next to what any method could reach on it. The oracle picks,
    per series, the reference with the lowest MASE on the scored window itself (no method can do
    that); the coverage ceiling is the mean coverage if every window were covered in full except those
    that every method, capplan included, missed for more than half the hours, which keep the best
    coverage any method reached there. A target beyond these is beyond what this panel can show."""
    series = sorted({r.series for r in rows})
    refs = [m for m in REFERENCES if any(r.method == m for r in rows)]
    if not series or not refs:
        return None
    best_mase, ceiling, missed = [], [], []
    for name in series:
        mine = [r for r in rows if r.series == name and np.isfinite(r.mase)]
        best_mase.append(min((r.mase for r in mine if r.method in refs), default=float("nan")))
        cover = max((r.coverage for r in mine), default=float("nan"))
        if cover < 0.5:
            missed.append(name)
        ceiling.append(cover if cover < 0.5 else 1.0)
    return {
        "oracle_mean_mase": float(np.mean(best_mase)),
        "coverage_ceiling": float(np.mean(ceiling)),
        "missed_by_all": missed,
    }


def versions() -> dict[str, str]:
    """Installed version of each library the results depend on, and the capplan checkout's commit."""
    found = {}
    for name in LIBRARIES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "not installed"
    found["capplan commit"] = _capplan_commit()
    return found


def _capplan_commit() -> str:
    """HEAD of the checkout, marked when capplan/ itself differs from it (other files may: the tree
    is shared, so ``git describe --dirty`` would say little about the code measured)."""
    root = Path(__file__).resolve().parents[1]

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False).stdout

    head = git("rev-parse", "--short", "HEAD").strip()
    if not head:
        return "unknown (not a git checkout)"
    return (
        f"{head} + uncommitted changes in capplan/" if git("status", "--porcelain", "--", "capplan") else head
    )


def markdown(report: dict) -> str:
    lines = [
        "# Benchmark results"
        + (" (dev split: earlier windows, for tuning)" if report.get("split") == "dev" else ""),
        "",
        f"Command: `{report['command']}`  ",
        f"Run: {report['started']}, {report['seconds']:.0f} s, CPUs allowed: {report['cpus']}, "
        f"Python {report['python']}  ",
        "Versions: " + ", ".join(f"{name} {version}" for name, version in report["versions"].items()) + "  ",
        "First call of each method, on the first series, not timed in the tables (imports, compilation): "
        + ", ".join(f"{m} {s:.2f} s" for m, s in report.get("first_call_seconds", {}).items()),
        "",
    ]
    for name, panel in report["panels"].items():
        lines += [f"## Panel {name} (horizon {panel['horizon']} h)", ""]
        lines += [f"Series ({len(panel['series'])}): " + ", ".join(panel["series"]), ""]
        lines += _summary_table(panel["summary"], panel.get("capplan_ratio"))
        lines += _bounds_lines(panel.get("bounds"), panel["summary"], panel.get("capplan_ratio"))
        clean = panel.get("unlabelled")
        if clean:
            lines += [
                "",
                f"Windows without a NAB-labelled anomaly ({clean['windows']} of {len(panel['series'])}; "
                "labelled ones are marked * below):",
                "",
            ]
            lines += _summary_table(clean["summary"], clean["capplan_ratio"])
        lines += [
            "",
            "| series | method | MASE | sMAPE % | coverage | s | note |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in panel["rows"]:
            mark = " *" if r.get("labelled") else ""
            lines.append(
                f"| {r['series']}{mark} | {r['method']} | {r['mase']:.3f} | {r['smape']:.1f} "
                f"| {r['coverage']:.3f} | {r['seconds']:.2f} | {r['note']} |"
            )
        lines.append("")
    return "\n".join(lines)


def _summary_table(summary: dict[str, dict[str, float]], ratio: dict | None) -> list[str]:
    lines = [
        "| method | mean MASE | median MASE | mean sMAPE % | median sMAPE % | mean coverage 95 "
        "| median coverage 95 | mean s/series | median s/series | failed |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for method, s in summary.items():
        lines.append(
            f"| {method} | {s['mean_mase']:.3f} | {s['median_mase']:.3f} | {s['mean_smape']:.1f} "
            f"| {s['median_smape']:.1f} | {s['mean_coverage']:.3f} | {s['median_coverage']:.3f} "
            f"| {s['mean_seconds']:.2f} "
            f"| {s['median_seconds']:.2f} | {s['failed']:.0f} |"
        )
    if ratio:
        lines += [
            "",
            f"capplan / best reference ({ratio['best_reference']}): "
            f"mean MASE x{ratio['mean_mase_ratio']:.3f}, "
            f"median MASE x{ratio['median_mase_ratio']:.3f}; capplan / {ratio['best_naive']}: "
            f"mean MASE x{ratio['mean_mase_ratio_to_naive']:.3f}",
        ]
    return lines


def _bounds_lines(found: dict | None, summary: dict, ratio: dict | None) -> list[str]:
    if not found or not ratio:
        return []
    best = summary[ratio["best_reference"]]["mean_mase"]
    missed = ", ".join(found["missed_by_all"]) or "none"
    return [
        "",
        "Bounds: the best reference per series, picked after seeing the scored windows (an oracle), "
        f"has mean MASE {found['oracle_mean_mase']:.3f}; 0.9 x the best reference is {0.9 * best:.3f}. "
        f"Windows every method covers less than half of: {missed}; with all others covered in full, "
        f"mean coverage would be {found['coverage_ceiling']:.3f}.",
    ]


def warm_up(case: data.Case, methods: list[str]) -> dict[str, float]:
    """Call each method once before timing, so its imports and first compilations (Keras/JAX, numba,
    Stan) do not land on whichever series comes first; those seconds are reported apart."""
    return {method: evaluate("warm-up", case, method).seconds for method in methods}


def run(panels: list[str], methods: list[str], train_hours: int | None, split: str = "test") -> dict:
    started = time.time()
    report: dict = {
        "command": " ".join(shlex.quote(a) for a in ["python", "-m", "bench.accuracy", *sys.argv[1:]]),
        "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(started)),
        "cpus": sorted(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "versions": versions(),
        "train_hours": train_hours,
        "split": split,
        "panels": {},
    }
    for name in panels:
        cases = data.panel(name, train_hours=train_hours, split=split)
        if cases and "first_call_seconds" not in report:
            report["first_call_seconds"] = warm_up(cases[0], methods)
        rows = []
        for case in cases:
            for method in methods:
                row = evaluate(name, case, method)
                log.info(
                    "%s %s %s: MASE %.3f, %.2f s %s", name, case.name, method, row.mase, row.seconds, row.note
                )
                rows.append(row)
        summary = summarise(rows, methods)
        unlabelled = [r for r in rows if not r.labelled]
        clean = summarise(unlabelled, methods) if unlabelled else None
        report["panels"][name] = {
            "horizon": len(cases[0].test) if cases else 0,
            "series": [c.name for c in cases],
            "train_points": {c.name: len(c.train) for c in cases},
            "interpolated_hours": {c.name: c.interpolated for c in cases},
            "summary": summary,
            "capplan_ratio": capplan_ratio(summary),
            "bounds": bounds(rows),
            "unlabelled": None
            if clean is None
            else {
                "windows": sum(not c.labelled for c in cases),
                "summary": clean,
                "capplan_ratio": capplan_ratio(clean),
            },
            "rows": [asdict(r) for r in rows],
        }
    report["seconds"] = time.time() - started
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.accuracy", description=__doc__.splitlines()[0])
    parser.add_argument("--panel", choices=["long", "short", "all"], default="all")
    parser.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS))
    parser.add_argument("--output", type=Path, default=Path("bench/results.md"))
    parser.add_argument("--train-hours", type=int, help="keep only the newest N training hours (timing runs)")
    parser.add_argument(
        "--split",
        choices=["test", "dev"],
        default="test",
        help="test: the held-out windows; dev: earlier windows of the same length, for tuning",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    panels = ["long", "short"] if args.panel == "all" else [args.panel]
    report = run(panels, args.methods, args.train_hours, args.split)
    args.output.write_text(markdown(report))
    args.output.with_suffix(".json").write_text(json.dumps(report, indent=1))
    log.info("wrote %s and %s", args.output, args.output.with_suffix(".json"))


if __name__ == "__main__":
    main()
