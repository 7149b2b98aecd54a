"""Gateway overhead, measured as the published claims should have been: one plan, at rising
rates, straight to the mock and through each gateway of ``gateways/``, in one run of this
script; the overhead is the difference of the two latency distributions with bootstrap
intervals, not a gateway's own timer.

For each rate (open loop, constant arrivals, one streamed request per arrival, client
retries off) it runs ``tokenstorm run`` against the mock directly, then through nginx,
HAProxy, Envoy and LiteLLM proxy (each one worker, as ``gateways/launch.py`` starts them).
Per gateway and rate it prints the difference to the direct run of E2E p50, p99 and mean
(and TTFT p50, p99) with 90 % circular-block bootstrap intervals (``harness.stats``), the
ledger's own figure (``gateway_overhead_ms``: client E2E minus the mock's service time) and,
for LiteLLM, the median of its ``x-litellm-overhead-duration-ms`` header over probe requests
sent right after the run. Each row says whether the run was valid and, if not, which limit
broke (the generator's schedule lag, the mock's own lag: a run on a busy machine says so). A
gateway stops rising once it answers under 99 %, achieves under 90 % of the rate or queues
(E2E p50 over a second above the direct run's); the direct run doing so stops everything
(then the generator or the mock is the limit).

Cases: ``zero`` (TTFT 0, ITL 0, 16 tokens: the mock answers at once) and ``stream1s`` (TTFT
200 ms, then 40 tokens 20 ms apart: 1 s per streamed answer, the latency of Bifrost's gate).

    .venv/bin/python bench/gateway_overhead.py --case zero [--rates 25,50,100,200] \\
        [--duration 5] [--gateways nginx,haproxy,envoy,litellm] [--out DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateways.launch import GATEWAYS, Options, free_port, render
from harness.cli.main import main as tokenstorm
from harness.contract.records import AttemptRecord, read_jsonl
from harness.stats.bootstrap import bootstrap_excess, statistic_for
from mock_models.embedded import EmbeddedMock
from mock_models.settings import constant_settings

CASES = {"zero": (0.0, 0.0, 16), "stream1s": (200.0, 20.0, 41)}
MASTER_KEY = "sk-tokenstorm-bench"
READY_S = 120.0
LITELLM_HEADER = "x-litellm-overhead-duration-ms"
PROBES = 20
#: E2E p50 this far above the direct run's means requests queue in the gateway: rate not held.
QUEUE_MS = 1000.0


def _gateway(name: str, upstream: str, folder: Path) -> contextlib.AbstractContextManager[str]:
    """Start gateway ``name`` in front of ``upstream`` (host:port); yield its base URL."""
    options = Options(retries=2, try_timeout_s=60.0, master_key=MASTER_KEY)
    target = f"http://{upstream}/v1" if name == "litellm" else upstream
    return _gateway_with(name, [target], folder, options)


@contextlib.contextmanager
def _gateway_with(name: str, upstreams: list[str], folder: Path, options: Options) -> Iterator[str]:
    """Start gateway ``name`` with ``options`` in front of ``upstreams``; yield its URL."""
    options = dataclasses.replace(options, master_key=MASTER_KEY)
    rendered = render(name, upstreams, free_port(), folder, options)
    with (folder / "stdout.log").open("wb") as log:
        process = subprocess.Popen(
            rendered.command,
            stdout=log,
            stderr=log,
            env=rendered.env,
            cwd=folder,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + READY_S
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SystemExit(f"{name} exited before it was ready; see {folder}/stdout.log")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(rendered.health_url, timeout=2.0).status_code < 500:
                    break
            time.sleep(0.2)
        else:
            raise SystemExit(f"{name} not ready within {READY_S:g} s; see {folder}/stdout.log")
        yield rendered.base_url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, 15)
        try:
            process.wait(10)
        except Exception:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, 9)
            process.wait(10)


def _scenario(folder: Path, url: str, rate: float, duration_s: float, tokens: int) -> Path:
    path = folder / f"plan-{rate:g}.toml"
    path.write_text(f"""name = "gateway-overhead"
seed = 1
duration = "{duration_s:g}s"
drain = "60s"
[target]
url = "{url}"
model = "mock-small"
timeout = "60s"
stream = true
tag_prompt = true
[client.retry]
attempts = 1
[arrival]
process = "constant"
rate = "{rate:g}/s"
[[workload]]
kind = "stream"
prompt_tokens = {{ dist = "constant", value = 64 }}
max_tokens = {tokens}
""")
    return path


def _run(folder: Path, label: str, url: str, ledger: str, **plan: Any) -> dict[str, Any]:
    scenario = _scenario(folder, url, **plan)
    args = ["run", str(scenario), "--ledger", ledger, "--out", str(folder), "--run-id", label]
    with (folder / "runs.log").open("a") as log, contextlib.redirect_stdout(log):
        code = tokenstorm([*args, "--no-progress", "--no-report"])
    run_dir = folder / label
    summary = json.loads((run_dir / "summary.json").read_text())
    records = list(read_jsonl(run_dir / "records.jsonl", AttemptRecord))
    ok = sorted((r for r in records if r.outcome == "ok"), key=lambda r: r.sent_s or 0.0)
    return {
        "exit": code,
        "summary": summary,
        "e2e_ms": [((r.done_s or 0) - (r.sent_s or 0)) * 1e3 for r in ok],
        "ttft_ms": [((r.first_token_s or 0) - (r.sent_s or 0)) * 1e3 for r in ok],
    }


def _delta(current: list[float], base: list[float], agg: str, q: float | None) -> str:
    statistic = statistic_for(agg, q)
    if not current or not base or statistic is None:
        return "unknown"
    rng = np.random.default_rng(0)
    interval = bootstrap_excess(current, base, statistic, rng)
    return f"{interval.estimate:+.2f} [{interval.low:+.2f}, {interval.high:+.2f}]"


def _litellm_self_report(url: str, tokens: int) -> str:
    values: list[float] = []
    body = {
        "model": "mock-small",
        "max_tokens": tokens,
        "messages": [{"role": "user", "content": "x"}],
    }
    headers = {"Authorization": f"Bearer {MASTER_KEY}"}
    for _ in range(PROBES):
        response = httpx.post(url + "/chat/completions", json=body, headers=headers, timeout=60)
        raw = response.headers.get(LITELLM_HEADER)
        if raw is not None:
            values.append(float(raw))
    return f"{statistics.median(values):.2f}" if values else "not sent"


def _validity(summary: dict[str, Any]) -> str:
    """``yes``, or the first validity note up to its colon (which limit the run broke)."""
    if summary.get("valid", False):
        return "yes"
    notes = summary.get("validity_notes") or ["invalid"]
    return "no: " + str(notes[0]).split(":")[0]


def _held(result: dict[str, Any], rate: float, direct: dict[str, Any]) -> str | None:
    """None when the run held the rate (answers, achieved rate, no queue building up in front
    of the mock: E2E p50 within a second of the direct run's); else why not."""
    summary = result["summary"]
    p50 = (summary.get("e2e_ms") or {}).get("p50")
    direct_p50 = (direct["summary"].get("e2e_ms") or {}).get("p50")
    if p50 is not None and direct_p50 is not None and p50 > direct_p50 + QUEUE_MS:
        return f"queueing: E2E p50 {p50:.0f} ms vs {direct_p50:.0f} ms direct"
    sent = summary.get("requests_sent") or 0
    if sent == 0 or (summary.get("requests_ok") or 0) / sent < 0.99:
        return f"errors: {summary.get('requests_ok')} ok of {sent}"
    achieved = summary.get("achieved_rps") or 0.0
    if achieved < 0.9 * rate:
        return f"achieved {achieved:.1f}/s of {rate:g}/s"
    return None


def _row(name: str, rate: float, result: dict[str, Any], direct: dict[str, Any]) -> dict[str, Any]:
    summary = result["summary"]
    ledger = summary.get("gateway_overhead_ms") or {}
    return {
        "target": name,
        "rate": rate,
        "achieved_rps": summary.get("achieved_rps"),
        "ok": f"{summary.get('requests_ok')}/{summary.get('requests_sent')}",
        "valid": _validity(summary),
        "e2e_p50_ms": (summary.get("e2e_ms") or {}).get("p50"),
        "e2e_p99_ms": (summary.get("e2e_ms") or {}).get("p99"),
        "d_e2e_p50": _delta(result["e2e_ms"], direct["e2e_ms"], "p", 50.0),
        "d_e2e_p99": _delta(result["e2e_ms"], direct["e2e_ms"], "p", 99.0),
        "d_e2e_mean": _delta(result["e2e_ms"], direct["e2e_ms"], "avg", None),
        "d_ttft_p50": _delta(result["ttft_ms"], direct["ttft_ms"], "p", 50.0),
        "d_ttft_p99": _delta(result["ttft_ms"], direct["ttft_ms"], "p", 99.0),
        "ledger_overhead_p50": ledger.get("p50"),
        "ledger_overhead_p99": ledger.get("p99"),
    }


COLUMNS = [
    ("target", "target"),
    ("rate", "rate /s"),
    ("achieved_rps", "achieved /s"),
    ("ok", "ok"),
    ("valid", "valid"),
    ("d_e2e_p50", "Δ E2E p50 ms [90% CI]"),
    ("d_e2e_p99", "Δ E2E p99 ms [90% CI]"),
    ("d_e2e_mean", "Δ E2E mean ms [90% CI]"),
    ("d_ttft_p99", "Δ TTFT p99 ms [90% CI]"),
    ("ledger_overhead_p50", "ledger overhead p50 ms"),
    ("ledger_overhead_p99", "ledger overhead p99 ms"),
    ("self_reported_p50", "self-reported p50 ms"),
    ("stopped", "stopped rising"),
]


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def markdown_table(rows: list[dict[str, Any]], columns: list[tuple[str, str]]) -> str:
    lines = ["| " + " | ".join(title for _, title in columns) + " |"]
    lines.append("|" + "---|" * len(columns))
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(key)) for key, _ in columns) + " |")
    return "\n".join(lines)


def markdown(rows: list[dict[str, Any]]) -> str:
    return markdown_table(rows, COLUMNS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--case", choices=sorted(CASES), default="zero")
    parser.add_argument("--rates", default="25,50,100,200")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--gateways", default=",".join(GATEWAYS))
    parser.add_argument("--out", type=Path, help="keep runs and tables here (default: temp)")
    args = parser.parse_args()
    ttft_ms, itl_ms, tokens = CASES[args.case]
    rates = [float(r) for r in args.rates.split(",")]
    names = [n for n in args.gateways.split(",") if n]
    out = args.out or Path(tempfile.mkdtemp(prefix="gateway-overhead-"))
    out.mkdir(parents=True, exist_ok=True)
    os.environ["OPENAI_API_KEY"] = MASTER_KEY
    rows: list[dict[str, Any]] = []
    stopped: dict[str, str] = {}
    with EmbeddedMock(constant_settings(ttft_ms, itl_ms, tokens, seed=1)) as mock:
        upstream = mock.base_url.removeprefix("http://")
        with contextlib.ExitStack() as stack:
            urls = {"direct": mock.api_url}
            for name in names:
                urls[name] = stack.enter_context(_gateway(name, upstream, out / f"gw-{name}"))
            for rate in rates:
                plan = {"rate": rate, "duration_s": args.duration, "tokens": tokens}
                direct = _run(out, f"direct-{rate:g}", urls["direct"], mock.ledger_url, **plan)
                why = _held(direct, rate, direct)
                row = _row("direct", rate, direct, direct)
                for key in [k for k in row if k.startswith("d_")]:
                    row[key] = "baseline"
                rows.append({**row, "stopped": why})
                print(markdown(rows[-1:]).splitlines()[-1], flush=True)
                if why:
                    print(f"direct run did not hold {rate:g}/s ({why}): stopping", flush=True)
                    break
                for name in names:
                    if name in stopped:
                        continue
                    result = _run(out, f"{name}-{rate:g}", urls[name], mock.ledger_url, **plan)
                    row = _row(name, rate, result, direct)
                    if name == "litellm":
                        row["self_reported_p50"] = _litellm_self_report(urls[name], tokens)
                    why = _held(result, rate, direct)
                    if why:
                        stopped[name] = row["stopped"] = why
                    rows.append(row)
                    print(markdown(rows[-1:]).splitlines()[-1], flush=True)
    table = markdown(rows)
    (out / "overhead.md").write_text(table + "\n")
    (out / "overhead.json").write_text(json.dumps(rows, indent=2) + "\n")
    print(f"\ncase {args.case}: TTFT {ttft_ms:g} ms, ITL {itl_ms:g} ms, {tokens} tokens\n")
    print(table)
    print(f"\nruns and tables in {out}")


if __name__ == "__main__":
    main()
