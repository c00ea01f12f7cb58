"""The benchmark script runs end to end on tiny inputs and writes valid JSON.

Slow (it starts ``edubot serve``, a load process and the emulator several times), so it is
marked ``slow`` and left out of the default run: ``pytest -m slow tests/test_bench_smoke.py``.
Only the check that ``--help`` names every section runs by default.
Timings are never asserted here; ``bench/run.py`` reports them against the targets.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_help_names_every_section_including_the_desk() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "COLUMNS": "200"},  # one line, whatever the terminal
    )
    assert done.returncode == 0, done.stderr
    assert "intake, scheduler, results, connections, desk" in done.stdout


@pytest.mark.slow
def test_quick_run_writes_every_section(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]

    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["mode"] == "quick"
    assert report["machine"]["cpus"] >= 1
    sections = report["sections"]
    assert {"intake_sqlite", "scheduler", "results", "connections", "desk"} <= set(sections)
    for name, section in sections.items():
        if section["details"].get("skipped"):
            continue
        assert section["metrics"], name
        for key, metric in section["metrics"].items():
            assert metric["runs"], key
            assert metric["pass"] in (True, False, None), key
            if metric["target"] is None:
                assert metric["pass"] is None, key
    # Every scoring callback the load process got a 200 for was recorded as a sheet.
    for run in sections["intake_sqlite"]["details"]["runs"]:
        for phase in ("sustained", "open_500", "open_500_unsynced", "open_half"):
            result = run[phase]
            assert result["db"]["sheets"] >= result["ok"]
            assert set(result["db"]["inbound"]) == {"ok"}
        assert set(run["floor"]["statuses"]) == {"ok"}
        probe = run["disk_sync"]
        assert probe["syncs"] > 0
        assert 0 < probe["p50_ms"] <= probe["p99_ms"] <= probe["max_ms"]
        assert probe["stalls"] == 0 or probe["stall_ms"] >= 20 * probe["stalls"]
    assert out.with_suffix(".md").read_text(encoding="utf-8").count("|") > 10
    assert "| benchmark |" in done.stdout
