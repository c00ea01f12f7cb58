"""Run every edubot benchmark: ``python bench/run.py [--quick] [--only intake,...,desk]``.

Writes ``bench/results.json`` (machine, date, each metric's median, its individual runs,
target and pass/fail, plus per-run details) and prints the markdown table that README
§Benchmarks shows (also written next to the JSON as ``results.md``). ``--quick`` is a
smoke run on tiny inputs: it checks that everything runs, its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import connections, desk, intake, results_scale, scheduler_scale
from bench.common import Metric, machine_info
from bot.workers import default_workers

SECTIONS = ("intake", "scheduler", "results", "connections", "desk")
BACKENDS = ("sqlite", "postgresql")
HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/run.py", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny inputs, one run each")
    parser.add_argument(
        "--only",
        default=",".join(SECTIONS),
        help=f"comma-separated sections, of: {', '.join(SECTIONS)} (default: all)",
    )
    parser.add_argument("--out", type=Path, default=HERE / "results.json")
    parser.add_argument("--no-postgres", action="store_true", help="intake on SQLite only")
    parser.add_argument(
        "--backends",
        default="sqlite,postgresql",
        help="intake on these, comma-separated (default: sqlite,postgresql)",
    )
    parser.add_argument("--runs", type=int, help="intake repetitions (default: 3, quick: 1)")
    parser.add_argument(
        "--workers",
        type=int,
        help="intake against `edubot serve --workers N` (default: what serve starts without "
        "the flag, one per core)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="profiles next to --out: pyinstrument of the intake floor, py-spy of serve under "
        "sustained load and during the first outbox burst (pip install pyinstrument py-spy)",
    )
    args = parser.parse_args(argv)
    args.workers = args.workers or default_workers()
    wanted = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(wanted) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s): {', '.join(sorted(unknown))}")
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if not backends or set(backends) - set(BACKENDS):
        parser.error(f"--backends: one or more of {', '.join(BACKENDS)}, comma-separated")
    if args.no_postgres:
        backends = [b for b in backends if b != "postgresql"]

    report: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "mode": "quick" if args.quick else "full",
        "workers": args.workers,
        "machine": machine_info(),
        "sections": {},
    }
    started = time.perf_counter()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="edubot-bench-") as tmp:
        work = Path(tmp)
        if "intake" in wanted:
            plan = intake.QUICK if args.quick else intake.FULL
            if args.runs:
                plan = dataclasses.replace(plan, runs=args.runs)
            for backend in backends:
                _section(
                    report,
                    f"intake_{backend}",
                    *intake.run_intake(
                        backend, plan, work, profile=args.profile, workers=args.workers
                    ),
                )
                if args.profile:
                    _keep_profile(work, backend, args.out.parent)
        if "scheduler" in wanted:
            plan_s = scheduler_scale.QUICK if args.quick else scheduler_scale.FULL
            spy = args.out.parent / "profile-outbox-burst.txt" if args.profile else None
            _section(
                report, "scheduler", *scheduler_scale.run_scheduler(plan_s, work, profile_to=spy)
            )
        if "results" in wanted:
            plan_r = results_scale.QUICK if args.quick else results_scale.FULL
            _section(report, "results", *results_scale.run_results(plan_r, work))
        if "connections" in wanted:
            plan_c = connections.QUICK if args.quick else connections.FULL
            _section(report, "connections", *connections.run_connections(plan_c, work))
        if "desk" in wanted:
            plan_d = desk.QUICK if args.quick else desk.FULL
            _section(report, "desk", *desk.run_desk(plan_d, work))
    report["machine"]["loadavg_at_end"] = list(__import__("os").getloadavg())
    report["elapsed_s"] = round(time.perf_counter() - started, 1)
    table = markdown(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    args.out.with_suffix(".md").write_text(table + "\n", encoding="utf-8")
    print(table)
    return 0


def _section(
    report: dict[str, Any], name: str, metrics: list[Metric], details: dict[str, Any]
) -> None:
    report["sections"][name] = {
        "metrics": {m.key: m.as_json() for m in metrics},
        "details": details,
    }
    for m in metrics:  # progress on stderr, the table goes to stdout at the end
        print(f"{m.label}: {_fmt(m.median, m.unit)} (runs {m.runs})", file=sys.stderr)


def _keep_profile(work: Path, backend: str, dest: Path) -> None:
    for name in (f"profile-floor-{backend}.txt", f"profile-serve-{backend}.txt"):
        if (work / name).exists():
            shutil.copyfile(work / name, dest / name)


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "ms":
        return f"{value:,.1f} ms" if value < 100 else f"{value:,.0f} ms"
    if unit == "s":
        return f"{value:.3f} s" if value < 10 else f"{value:.1f} s"
    if unit == "ratio":
        return f"{value:.2f}"
    if unit == "%":
        return f"{value:.0f} %"
    if unit == "msg/s":
        return f"{value:,.0f} msg/s"
    if unit == "MiB":
        return f"{value:.0f} MiB"
    return f"{value:,.0f} {unit}"


def markdown(report: dict[str, Any]) -> str:
    """The README table: one row per metric, median over the runs, target and result."""
    machine = report["machine"]
    lines = [
        f"{report['mode']} run, {report['date']}, {machine['cpus']} cores "
        f"({machine['cpu_model']}), Python {machine['python']}, load average at start "
        f"{machine['loadavg_at_start'][0]:.2f}",
        "",
        "| benchmark | median | runs | target | result | runs missed |",
        "|---|---|---|---|---|---|",
    ]
    for section in report["sections"].values():
        for metric in section["metrics"].values():
            unit = metric["unit"]
            runs = ", ".join(_fmt(r, unit).split(" ")[0] for r in metric["runs"])
            target = (
                "—"
                if metric["target"] is None
                else f"{metric['target_is']} {_fmt(metric['target'], unit)}"
            )
            verdict = {True: "pass", False: "**miss**", None: ""}[metric["pass"]]
            median = _fmt(metric["median"], unit)
            missed = _missed(metric)
            lines.append(
                f"| {metric['label']} | {median} | {runs} | {target} | {verdict} | {missed} |"
            )
        if section["details"].get("skipped"):
            lines.append(f"| (skipped: {section['details']['skipped']}) | | | | | |")
    return "\n".join(lines)


def _missed(metric: dict[str, Any]) -> str:
    """How many of a metric's runs missed its target ("1 of 3"); empty without a target."""
    target, runs = metric["target"], [r for r in metric["runs"] if r is not None]
    if target is None or not runs:
        return ""
    above = metric["target_is"] == ">="
    missed = sum(1 for r in runs if (r < target if above else r > target))
    return f"{missed} of {len(runs)}"


if __name__ == "__main__":
    sys.exit(main())
