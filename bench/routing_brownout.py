"""Routing strategies under a brownout: where each router sends traffic while one deployment
of a model group degrades, and what the client sees.

The mock serves three deployments of one model, each on its own listener: ``fast`` (TTFT
50 ms, 5 ms per token), ``slow`` (TTFT 400 ms, 20 ms per token) and ``flaky``, as fast as
``fast`` until it browns out from ``--window`` start to end on the run clock (half of its
attempts answer 503, a third of the rest wait 2 s first), then recovers. One seeded plan
(constant arrivals, streamed, client retries off) goes through each router in turn: LiteLLM
proxy with each routing strategy (two retries, its cooldowns on, as it ships), nginx
round-robin and ``least_conn``, Envoy ``ROUND_ROBIN`` and ``LEAST_REQUEST`` (two retries
each, ``gateways/``). Per router it prints p99 TTFT and E2E, the error rate, retry and token
amplification (ledger), cost, the share of upstream attempts each deployment got before,
during and after the window, and the recovery time: from the window's end to the start of
the first 1 s slice after which no request failed. The plan mixes two request classes
(``workload`` tags, ``CLASSES``): short chats and long-document requests; the routing matrix
(``matrix.md``) gives, per router and class, each deployment's share of the class's upstream
attempts and the class's cost, with and per 1k requests.

    .venv/bin/python bench/routing_brownout.py [--rate 10] [--duration 30] \\
        [--window 10,20] [--routers litellm:simple-shuffle,nginx:least-request,...] [--out DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway_overhead import MASTER_KEY, _gateway_with, markdown_table

from gateways.launch import Options
from harness.cli.main import main as tokenstorm
from harness.contract.records import AttemptRecord, LedgerEntry, read_jsonl
from mock_models.embedded import EmbeddedMock
from mock_models.settings import DeploymentSettings, MockSettings

ROUTERS = (
    "litellm:simple-shuffle",
    "litellm:least-busy",
    "litellm:latency-based-routing",
    "litellm:usage-based-routing-v2",
    "nginx:round-robin",
    "nginx:least-request",
    "envoy:round-robin",
    "envoy:least-request",
)
DEPLOYMENTS = {"fast": (50.0, 5.0), "slow": (400.0, 20.0), "flaky": (50.0, 5.0)}
#: Request classes of the plan: tag, prompt tokens, share of the requests.
CLASSES = (("short", 100, 0.7), ("long-doc", 1500, 0.3))


def _settings() -> MockSettings:
    deployments = tuple(
        DeploymentSettings(
            name=name,
            model="*",
            port=0,
            ttft_ms=ttft,
            itl_ms=itl,
            prefill_ms_per_token=0.0,
            jitter=0.0,
            output_tokens=20,
            output_tokens_sigma=0.0,
        )
        for name, (ttft, itl) in DEPLOYMENTS.items()
    )
    return MockSettings(seed=3, deployments=deployments)


def _profile(start_s: float, end_s: float) -> dict[str, Any]:
    window = {"start": start_s, "end": end_s}
    targets = {"deployments": ["flaky"]}
    return {
        "name": "flaky-brownout",
        "rule": [
            {"kind": "http_503", "probability": 0.5, "window": window, "targets": targets},
            {
                "kind": "delay",
                "probability": 0.3,
                "window": window,
                "targets": targets,
                "params": {"delay_ms": 2000},
            },
        ],
    }


def _scenario(folder: Path, name: str, url: str, rate: float, duration_s: float) -> Path:
    path = folder / f"{name}.toml"
    path.write_text(
        f"""name = "routing-brownout"
seed = 5
duration = "{duration_s:g}s"
drain = "60s"
[target]
url = "{url}"
model = "mock-small"
timeout = "30s"
stream = true
tag_prompt = true
[client.retry]
attempts = 1
[arrival]
process = "constant"
rate = "{rate:g}/s"
"""
        + "".join(
            f"""[[workload]]
kind = "stream"
share = {share}
tags = {{ workload = "{tag}" }}
prompt_tokens = {{ dist = "constant", value = {tokens} }}
max_tokens = 20
"""
            for tag, tokens, share in CLASSES
        )
    )
    return path


def _phase(t_s: float, start_s: float, end_s: float) -> str:
    return "before" if t_s < start_s else "during" if t_s < end_s else "after"


def _percent(share: float | None) -> str | None:
    return None if share is None else f"{share:.1%}"


def _analyse(run_dir: Path, start_s: float, end_s: float) -> dict[str, Any]:
    summary = json.loads((run_dir / "summary.json").read_text())
    records = list(read_jsonl(run_dir / "records.jsonl", AttemptRecord))
    ledger = list(read_jsonl(run_dir / "ledger.jsonl", LedgerEntry))
    origin = min((e.received_s for e in ledger), default=0.0)
    shares: dict[str, Counter[str]] = {p: Counter() for p in ("before", "during", "after")}
    for entry in ledger:  # the run clock, approximately: the first attempt arrived at ~0
        shares[_phase(entry.received_s - origin, start_s, end_s)][entry.deployment] += 1
    failed_slices = {int(r.scheduled_s) for r in records if r.outcome != "ok"}
    after = [s for s in failed_slices if s >= end_s]
    recovery = (max(after) + 1 - end_s) if after else 0.0
    cost = summary.get("cost_usd_total")
    row: dict[str, Any] = {
        "ttft_p99_ms": (summary.get("ttft_ms") or {}).get("p99"),
        "e2e_p99_ms": (summary.get("e2e_ms") or {}).get("p99"),
        "error_rate": _percent(summary.get("error_rate")),
        "retry_amp": summary.get("retry_amplification"),
        "token_amp": summary.get("token_amplification"),
        "cost_usd": None if cost is None else f"{cost:.4f}",
        "recovery_s": recovery,
        "valid": "yes" if summary.get("valid") else "no",
    }
    for phase, counts in shares.items():
        total = sum(counts.values())
        row[f"flaky_{phase}"] = counts["flaky"] / total if total else None
        row[f"split_{phase}"] = " ".join(
            f"{d}:{counts[d] / total:.0%}" for d in DEPLOYMENTS if total
        )
    row["matrix"] = _matrix(summary, records, ledger)
    return row


def _matrix(
    summary: dict[str, Any], records: list[AttemptRecord], ledger: list[LedgerEntry]
) -> list[dict[str, Any]]:
    """Per request class: each deployment's share of the class's upstream attempts, and the
    class's cost (the summary's ``by_workload``: every attempt made on its requests' behalf)."""
    klass = {r.request_id: r.tags.get("workload", "(none)") for r in records}
    counts: dict[str, Counter[str]] = {}
    for entry in ledger:
        counts.setdefault(klass.get(entry.request_id or "", "(unknown)"), Counter())[
            entry.deployment
        ] += 1
    rows = []
    for name, group in sorted((summary.get("by_workload") or {}).items()):
        attempts = counts.get(name, Counter())
        total = sum(attempts.values())
        cost, sent = group.get("cost_usd_total"), group.get("requests_sent") or 0
        row: dict[str, Any] = {"class": name, "requests": sent, "attempts": total}
        for deployment in DEPLOYMENTS:
            row[deployment] = _percent(attempts[deployment] / total) if total else None
        row["cost_usd"] = None if cost is None else f"{cost:.5f}"
        row["cost_per_1k_usd"] = None if cost is None or not sent else f"{cost / sent * 1000:.4f}"
        rows.append(row)
    return rows


MATRIX_COLUMNS = [
    ("router", "router"),
    ("class", "class"),
    ("requests", "requests"),
    ("attempts", "upstream attempts"),
    *((d, d) for d in DEPLOYMENTS),
    ("cost_usd", "cost $"),
    ("cost_per_1k_usd", "$ per 1k requests"),
]


COLUMNS = [
    ("router", "router"),
    ("valid", "valid"),
    ("ttft_p99_ms", "TTFT p99 ms"),
    ("e2e_p99_ms", "E2E p99 ms"),
    ("error_rate", "error rate"),
    ("retry_amp", "retry amp."),
    ("token_amp", "token amp."),
    ("cost_usd", "cost $"),
    ("split_before", "attempts before"),
    ("split_during", "attempts during"),
    ("split_after", "attempts after"),
    ("recovery_s", "recovery s"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--window", default="10,20", help="brownout start,end in run seconds")
    parser.add_argument("--routers", default=",".join(ROUTERS))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    start_s, end_s = (float(x) for x in args.window.split(","))
    out = args.out or Path(tempfile.mkdtemp(prefix="routing-brownout-"))
    out.mkdir(parents=True, exist_ok=True)
    os.environ["OPENAI_API_KEY"] = MASTER_KEY
    rows: list[dict[str, Any]] = []
    with EmbeddedMock(_settings()) as mock:
        listeners = httpx.get(mock.base_url + "/tokenstorm/listeners", timeout=5).json()
        servers = [f"127.0.0.1:{listeners[name]['port']}" for name in DEPLOYMENTS]
        for router in args.routers.split(","):
            gateway, _, how = router.partition(":")
            if gateway == "litellm":
                options = Options(
                    retries=2, try_timeout_s=30.0, routing_strategy=how, cooldowns=True
                )
                upstreams = [f"http://{server}/v1" for server in servers]
            else:
                options = Options(retries=2, try_timeout_s=30.0, balance=how)
                upstreams = servers
            httpx.post(mock.base_url + "/tokenstorm/admin/reset", timeout=5).raise_for_status()
            put = httpx.put(
                mock.base_url + "/tokenstorm/faults", json=_profile(start_s, end_s), timeout=5
            )
            put.raise_for_status()
            label = router.replace(":", "-")
            folder = out / f"gw-{label}"
            with _gateway_with(gateway, upstreams, folder, options) as url:
                scenario = _scenario(out, label, url, args.rate, args.duration)
                run = ["run", str(scenario), "--ledger", mock.ledger_url, "--out", str(out)]
                with (out / "runs.log").open("a") as log, contextlib.redirect_stdout(log):
                    tokenstorm([*run, "--run-id", label, "--no-progress", "--no-report"])
            rows.append({"router": router, **_analyse(out / label, start_s, end_s)})
            print(markdown_table(rows[-1:], COLUMNS).splitlines()[-1], flush=True)
    table = markdown_table(rows, COLUMNS)
    matrix = markdown_table(
        [{"router": r["router"], **m} for r in rows for m in r["matrix"]], MATRIX_COLUMNS
    )
    (out / "routing.md").write_text(table + "\n")
    (out / "matrix.md").write_text(matrix + "\n")
    (out / "routing.json").write_text(json.dumps(rows, indent=2) + "\n")
    print(f"\nbrownout of 'flaky' from {start_s:g} s to {end_s:g} s, {args.rate:g} req/s\n")
    print(table)
    print("\nrouting matrix: share of each class's upstream attempts per deployment\n")
    print(matrix)
    print(f"\nruns and tables in {out}")


if __name__ == "__main__":
    main()
