"""The long-connection benchmark runs end to end on tiny inputs (its numbers are not
checked here, only that every message was taken and every metric measured)."""

from __future__ import annotations

from pathlib import Path

from bench.connections import QUICK, run_connections


def test_the_connections_benchmark_measures_both_connections(tmp_path: Path) -> None:
    metrics, details = run_connections(QUICK, tmp_path)
    assert [m.key for m in metrics] == [
        "stream_dingtalk_rate",
        "longconn_wecom_rate",
        "stream_dingtalk_recovery",
        "longconn_wecom_recovery",
    ]
    assert all(len(m.runs) == QUICK.runs and m.runs[0] > 0 for m in metrics)
    (run,) = details["runs"]
    assert run["messages"] == QUICK.messages
    # Recovery includes the first reconnect delay (1 s) and stays bounded.
    assert 0.9 < run["dingtalk_recovery_s"] < 10
    assert 0.9 < run["wecom_recovery_s"] < 10
