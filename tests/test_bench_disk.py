"""The disk probe beside the intake benchmark: it syncs what it says, at the pace it says."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench import disk


def test_the_probe_syncs_each_write_and_counts_only_slow_syncs_as_stalls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[int] = []
    slow = iter([0.0, 0.0, 0.025, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])

    def fdatasync(fd: int) -> None:
        synced.append(os.fstat(fd).st_size)
        # A sync that takes 25 ms of the clock the probe reads (the third one).
        disk.time.sleep(next(slow))

    monkeypatch.setattr(disk.os, "fdatasync", fdatasync)
    result = disk.sync_probe(tmp_path, duration_s=0.1, rate=100)

    assert result["syncs"] == len(synced) == 10
    assert set(synced) == {disk.FILE_SIZE}  # overwrites in place: the size never changes
    assert result["stalls"] == 1
    assert 25 <= result["stall_ms"] == result["max_ms"] < 100
    assert not list(tmp_path.iterdir())  # the probe's file is gone


def test_the_command_line_prints_the_result_as_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    disk.main(["--dir", str(tmp_path), "--duration", "0.05", "--rate", "100"])
    printed = capsys.readouterr().out
    assert '"syncs": 5' in printed
    assert not list(tmp_path.iterdir())
