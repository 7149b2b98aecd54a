"""Retry storms, counted: client retries behind gateway retries behind LiteLLM fallbacks.

Each stack sends the same small number of chat requests to a mock whose every attempt fails
with ``--kind`` (``http_500`` by default) with probability p (1.0 and 0.3 by default). The
mock counts the upstream attempts each request caused (its ledger, ``GET
/tokenstorm/ledger?run_id=``, requests told apart by the ``[tokenstorm run=.. request=..]``
tag in the prompt, which survives every gateway), and the bench sets the mean beside two
predictions:

- the *product rule*: the attempts if every layer retries every failure to the end, i.e. at
  p = 1 the product of the layers' tries, (1+2)*(1+2) = 9 for two layers of two retries;
  a fallback group adds its own tries to the gateway's, (3 + 3) * 3 = 18;
- the *independent expectation* at the given p: the same layers, each attempt failing
  independently with p (a layer of n tries over something that costs E attempts and fails
  with f costs E*(1 + f + ... + f^(n-1)) and fails with f^n; a fallback adds f1*E2).

Clients: the official ``openai`` SDK (``max_retries=2``, what most applications run) and
tokenstorm's own client (``[client.retry] attempts = 3``, openai-python's status rules).
Gateways from ``gateways/``: none, nginx (3 tries over 3 servers), Envoy (2 retries), LiteLLM
(``num_retries: 2``), and LiteLLM with a ``mock-fallback`` model group. Loopback only; every
request is bounded by a 30 s timeout and each stack by its request count.

    .venv/bin/python bench/retry_storms.py [--requests 40] [--fail 1.0,0.3] \\
        [--kind http_500] [--stacks sdk,sdk>litellm,...] [--out DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway_overhead import MASTER_KEY, _gateway_with, markdown_table

from gateways.launch import Options
from harness.cli.main import main as tokenstorm
from mock_models.embedded import EmbeddedMock
from mock_models.settings import DeploymentSettings, MockSettings

PRIMARY = ("a", "b", "c")
FALLBACK = ("fb",)
CLIENT_TRIES = 3  # openai max_retries=2, tokenstorm attempts=3
GATEWAY_TRIES = 3  # two retries after the first try, every gateway


@dataclass(frozen=True)
class Stack:
    """``client`` (sdk|tokenstorm) in front of ``gateway`` (None: the mock itself)."""

    name: str
    client: str
    gateway: str | None
    fallback: bool = False

    def groups(self) -> tuple[int, ...]:
        """Tries per model group at the gateway: () direct, (3,) retries, (3, 3) fallback."""
        if self.gateway is None:
            return ()
        return (GATEWAY_TRIES, GATEWAY_TRIES) if self.fallback else (GATEWAY_TRIES,)


STACKS = {
    s.name: s
    for s in (
        Stack("sdk", "sdk", None),
        Stack("tokenstorm", "tokenstorm", None),
        Stack("sdk>nginx", "sdk", "nginx"),
        Stack("sdk>envoy", "sdk", "envoy"),
        Stack("tokenstorm>envoy", "tokenstorm", "envoy"),
        Stack("sdk>litellm", "sdk", "litellm"),
        Stack("sdk>litellm+fallback", "sdk", "litellm", fallback=True),
        Stack("tokenstorm>litellm+fallback", "tokenstorm", "litellm", fallback=True),
    )
}


def _layer(tries: int, cost: float, fail: float) -> tuple[float, float]:
    """``tries`` tries of something costing ``cost`` attempts, failing with ``fail``."""
    return cost * sum(fail**k for k in range(tries)), fail**tries


def predicted(stack: Stack, p: float) -> float:
    """Expected upstream attempts per request when every layer retries every failure and
    each attempt fails independently with ``p``; at p = 1 this is the product rule."""
    cost, fail = 1.0, p
    if stack.groups():
        cost, fail = 0.0, 1.0
        for tries in stack.groups():  # fallback groups run only when the previous failed
            group_cost, group_fail = _layer(tries, 1.0, p)
            cost, fail = cost + fail * group_cost, fail * group_fail
    return _layer(CLIENT_TRIES, cost, fail)[0]


def _settings() -> MockSettings:
    deployments = tuple(
        DeploymentSettings(
            name=name,
            model="*",
            port=0,
            ttft_ms=5.0,
            itl_ms=1.0,
            prefill_ms_per_token=0.0,
            jitter=0.0,
            output_tokens=5,
            output_tokens_sigma=0.0,
        )
        for name in PRIMARY + FALLBACK
    )
    return MockSettings(seed=7, deployments=deployments)


def _sdk_run(url: str, run_id: str, requests: int) -> int:
    """Send ``requests`` chat calls with the openai SDK's own retries; return the failures."""
    client = openai.OpenAI(base_url=url, api_key=MASTER_KEY, max_retries=2, timeout=30.0)

    def one(i: int) -> bool:
        content = f"Say hello. [tokenstorm run={run_id} request=r{i}]"
        try:
            client.chat.completions.create(
                model="mock-small", messages=[{"role": "user", "content": content}], max_tokens=5
            )
        except openai.APIError:
            return False
        return True

    with ThreadPoolExecutor(max_workers=8) as pool:
        return sum(1 for ok in pool.map(one, range(requests)) if not ok)


def _tokenstorm_run(url: str, run_id: str, requests: int, out: Path, ledger_url: str) -> int:
    """The same through ``tokenstorm run`` with ``attempts = 3``; return the failures."""
    scenario = out / f"{run_id}.toml"
    scenario.write_text(f"""name = "retry-storms"
seed = 5
duration = "{requests / 10:g}s"
drain = "60s"
[target]
url = "{url}"
model = "mock-small"
timeout = "30s"
stream = false
tag_prompt = true
[client.retry]
attempts = {CLIENT_TRIES}
[arrival]
process = "constant"
rate = "10/s"
[[workload]]
kind = "stream"
prompt_tokens = {{ dist = "constant", value = 20 }}
max_tokens = 5
""")
    run = ["run", str(scenario), "--ledger", ledger_url, "--out", str(out), "--run-id", run_id]
    with (out / "runs.log").open("a") as log, contextlib.redirect_stdout(log):
        tokenstorm([*run, "--no-progress", "--no-report"])
    summary = json.loads((out / run_id / "summary.json").read_text())
    failed = summary.get("requests_failed")
    return -1 if failed is None else int(failed)


def _attempts(mock_url: str, run_id: str) -> Counter[str]:
    text = httpx.get(f"{mock_url}/tokenstorm/ledger", params={"run_id": run_id}, timeout=10).text
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    return Counter(str(line["request_id"]) for line in lines)


@contextlib.contextmanager
def _front(stack: Stack, listeners: dict[str, Any], folder: Path) -> Iterator[str]:
    servers = {n: f"127.0.0.1:{listeners[n]['port']}" for n in PRIMARY + FALLBACK}
    if stack.gateway is None:
        yield f"http://{servers['a']}/v1"
        return
    if stack.gateway == "litellm":
        fallback = tuple(f"http://{servers[n]}/v1" for n in FALLBACK) if stack.fallback else ()
        options = Options(retries=2, try_timeout_s=30.0, fallback_upstreams=fallback)
        upstreams = [f"http://{servers[n]}/v1" for n in PRIMARY]
    else:
        options = Options(retries=2, try_timeout_s=30.0)
        upstreams = [servers[n] for n in PRIMARY]
    with _gateway_with(stack.gateway, upstreams, folder, options) as url:
        yield url


COLUMNS = [
    ("stack", "stack"),
    ("p", "p(fail)"),
    ("requests", "requests"),
    ("client_failed", "failed at client"),
    ("measured", "attempts/request"),
    ("max", "max"),
    ("predicted", "product rule"),
    ("ratio", "measured/rule"),
]


def chart(rows: list[dict[str, Any]], path: Path) -> None:
    """Measured against predicted attempts per request, one panel per failure rate."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rates = sorted({r["p"] for r in rows}, reverse=True)
    fig, axes = plt.subplots(len(rates), 1, figsize=(10, 3.6 * len(rates)), squeeze=False)
    for ax, p in zip(axes[:, 0], rates, strict=True):
        mine = [r for r in rows if r["p"] == p]
        xs = range(len(mine))
        ax.bar([x - 0.2 for x in xs], [r["measured"] for r in mine], 0.4, label="measured")
        ax.bar([x + 0.2 for x in xs], [r["predicted"] for r in mine], 0.4, label="product rule")
        ax.plot(list(xs), [r["max"] for r in mine], "kD", label="most for one request")
        ax.set_xticks(list(xs), [r["stack"] for r in mine], rotation=20, ha="right")
        ax.set_ylabel("upstream attempts / request")
        ax.set_title(f"every attempt fails with p = {p:g}")
        ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--fail", default="1.0,0.3", help="failure probabilities to run")
    parser.add_argument("--kind", default="http_500", help="the mock's fault kind")
    parser.add_argument("--stacks", default=",".join(STACKS))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="retry-storms-"))
    out.mkdir(parents=True, exist_ok=True)
    os.environ["OPENAI_API_KEY"] = MASTER_KEY
    rows: list[dict[str, Any]] = []
    with EmbeddedMock(_settings()) as mock:
        listeners = httpx.get(mock.base_url + "/tokenstorm/listeners", timeout=5).json()
        for name in args.stacks.split(","):
            stack = STACKS[name]
            label = name.replace(">", "-").replace("+", "-")
            with _front(stack, listeners, out / f"gw-{label}") as url:
                for p in (float(x) for x in args.fail.split(",")):
                    run_id = f"{label}-p{p:g}".replace(".", "")
                    httpx.post(mock.base_url + "/tokenstorm/admin/reset", timeout=5)
                    profile = {"name": "storm", "rule": [{"kind": args.kind, "probability": p}]}
                    httpx.put(mock.base_url + "/tokenstorm/faults", json=profile, timeout=5)
                    if stack.client == "sdk":
                        failed = _sdk_run(url, run_id, args.requests)
                    else:
                        failed = _tokenstorm_run(url, run_id, args.requests, out, mock.ledger_url)
                    counts = _attempts(mock.base_url, run_id)
                    total = sum(counts.values())
                    measured = total / len(counts) if counts else None
                    rule = predicted(stack, p)
                    row = {
                        "stack": name,
                        "p": p,
                        "requests": len(counts),
                        "client_failed": None if failed < 0 else failed,
                        "measured": None if measured is None else round(measured, 2),
                        "max": max(counts.values(), default=None),
                        "predicted": round(rule, 2),
                        "ratio": None if measured is None else round(measured / rule, 2),
                    }
                    rows.append(row)
                    print(markdown_table([row], COLUMNS).splitlines()[-1], flush=True)
    table = markdown_table(rows, COLUMNS)
    (out / "storms.md").write_text(table + "\n")
    (out / "storms.json").write_text(json.dumps(rows, indent=2) + "\n")
    chart(rows, out / "storms.png")
    print(f"\n{args.kind}, {args.requests} requests per stack and rate\n")
    print(table)
    print(f"\ntables and chart in {out}")


if __name__ == "__main__":
    main()
