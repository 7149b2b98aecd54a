"""A run whose connection pool is smaller than its plan needs: warned about before anything is
sent, the attempts that waited for a connection counted, and the run marked invalid as a
client bottleneck; with the pool sized from the plan, the same run is valid."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli.main import main
from harness.metrics.validity import ValidityLimits, assess_validity
from mock_models.embedded import EmbeddedMock
from mock_models.settings import constant_settings

# Its verdicts need the run to keep its schedule: run alone, not beside other tests.
pytestmark = pytest.mark.serial


def _scenario(folder: Path, url: str, pool: str) -> Path:
    path = folder / f"pool{pool or '-sized'}.toml"
    path.write_text(f"""name = "pool"
seed = 3
duration = "1s"
[target]
url = "{url}"
model = "m"
{pool}
[arrival]
process = "constant"
rate = "20/s"
[[workload]]
kind = "stream"
prompt_tokens = {{ dist = "constant", value = 16 }}
max_tokens = 4
""")
    return path


def test_a_pool_too_small_for_the_plan_is_warned_about_and_marks_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 20 requests a second, each 300 ms: about 6 in flight, through 2 connections.
    with EmbeddedMock(constant_settings(300.0, 1.0, 4)) as mock:
        for run_id, pool in (("capped", "max_connections = 2"), ("sized", "")):
            scenario = _scenario(tmp_path, mock.api_url, pool)
            args = ["run", str(scenario), "--out", str(tmp_path), "--run-id", run_id]
            assert main([*args, "--no-progress", "--no-report"]) == 0
    err = capsys.readouterr().err
    assert "warning: the plan may hold up to" in err and "max_connections = 2" in err
    capped = json.loads((tmp_path / "capped" / "summary.json").read_text())
    manifest = json.loads((tmp_path / "capped" / "manifest.json").read_text())
    assert manifest["pool"]["max_connections"] == 2
    assert manifest["pool"]["peak_in_flight"] > 2
    assert manifest["pool"]["attempts_waited_for_pool"] > 0
    assert capped["valid"] is False
    assert any("waited for a free connection" in n for n in capped["validity_notes"])
    sized = json.loads((tmp_path / "sized" / "summary.json").read_text())
    pool = json.loads((tmp_path / "sized" / "manifest.json").read_text())["pool"]
    assert pool["sized_from_plan"] and pool["attempts_waited_for_pool"] == 0
    assert not any("free connection" in n for n in sized["validity_notes"])


def test_pool_waits_over_the_limit_make_a_run_invalid() -> None:
    common = dict(
        schedule_lag_p99_ms=1.0,
        requests_dropped=0,
        requests_sent=10,
        client_cpu_s=1.0,
        wall_s=10.0,
        limits=ValidityLimits(),
    )
    assert assess_validity(**common, pool_waits=0, max_connections=2) == (True, [])
    valid, notes = assess_validity(**common, pool_waits=7, max_connections=2)
    assert not valid
    assert notes == [
        "7 attempts waited for a free connection: the client's pool (2 connections) capped the "
        "concurrency, a client bottleneck; latencies from the planned send include the wait, "
        "and the target never saw the load planned (raise [target] max_connections)"
    ]
    # Older runs did not measure it: no verdict either way.
    assert assess_validity(**common) == (True, [])
