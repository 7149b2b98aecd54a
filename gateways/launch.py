"""Render a gateway's config for given upstreams and options, and start it.

``render`` fills a template of this folder into a working folder and returns the command that
starts the gateway on it (in the foreground, logging there), its health URL and the
environment it needs; ``main`` is the command line the ``<gateway>.sh`` launchers call::

    gateways/envoy.sh --port 4000 --upstream 127.0.0.1:8000 --retries 2 --dir /tmp/envoy

Every gateway runs one worker (nginx ``worker_processes 1``, HAProxy ``nbthread 1``, Envoy
``--concurrency 1``, LiteLLM one process), so overhead figures compare like with like.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import string
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
GATEWAYS = ("nginx", "haproxy", "envoy", "litellm")
#: What the retry policies retry by default: 5xx, 429, timeouts and broken connections.
NGINX_RETRY_ON = "error timeout http_500 http_502 http_503 http_504 http_429"
HAPROXY_RETRY_ON = "conn-failure empty-response response-timeout 500 502 503 504"
LITELLM_STRATEGIES = (
    "simple-shuffle",
    "least-busy",
    "latency-based-routing",
    "usage-based-routing-v2",
    "cost-based-routing",
)


@dataclass(frozen=True, slots=True)
class Options:
    """What a config may vary. ``retries`` counts re-sends after the first try;
    ``try_timeout_s`` bounds one try (nginx: between two reads; HAProxy: server inactivity;
    Envoy: per try; LiteLLM: per call)."""

    retries: int = 2
    try_timeout_s: float = 300.0
    #: ``round-robin`` or ``least-request`` (nginx ``least_conn``, HAProxy ``leastconn``,
    #: Envoy ``LEAST_REQUEST``); LiteLLM takes a routing strategy of its own instead.
    balance: str = "round-robin"
    #: nginx only: re-send a POST that was already sent (``non_idempotent``).
    retry_non_idempotent: bool = True
    routing_strategy: str = "simple-shuffle"
    master_key: str = "sk-tokenstorm-gateway"
    #: LiteLLM only: the upstream model name of each deployment (default ``mock-small``).
    models: tuple[str, ...] = field(default_factory=tuple)
    #: LiteLLM only: keep its cooldowns (a failing deployment benched for a while); off by
    #: default so a failing deployment keeps its share and retries stay countable.
    cooldowns: bool = False
    #: LiteLLM only: base URLs of a second model group, ``mock-fallback``, that requests
    #: failing in ``mock-small`` (after its retries) fall back to; none by default.
    fallback_upstreams: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class Rendered:
    command: list[str]
    config: Path
    health_url: str
    base_url: str
    env: dict[str, str]


def gateways_venv() -> Path:
    venv = Path(os.environ.get("TOKENSTORM_GATEWAYS_VENV", ROOT / ".venv-gateways"))
    return venv if venv.is_absolute() else ROOT / venv


def binary(name: str) -> str | None:
    """The gateway's executable where ``.ci/gateways.sh`` installs it, or None."""
    if name in ("envoy", "litellm"):
        path = gateways_venv() / "bin" / name
        return str(path) if path.exists() else None
    found = shutil.which(name)
    if found is None and Path(f"/usr/sbin/{name}").exists():
        found = f"/usr/sbin/{name}"
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _fill(template: str, folder: Path, target: str, **values: object) -> Path:
    text = string.Template((HERE / template).read_text()).substitute(
        {k: str(v) for k, v in values.items()}
    )
    path = folder / target
    path.write_text(text)
    return path


def _seconds(value: float) -> str:
    return f"{value:g}"


def render(
    name: str, upstreams: Sequence[str], port: int, folder: Path, options: Options | None = None
) -> Rendered:
    """Write ``name``'s config for ``upstreams`` (``host:port``; LiteLLM takes base URLs such
    as ``http://127.0.0.1:8000/v1``) listening on 127.0.0.1:``port`` into ``folder``."""
    opts = options or Options()
    if name not in GATEWAYS:
        raise ValueError(f"unknown gateway {name!r}: choose one of {', '.join(GATEWAYS)}")
    if not upstreams:
        raise ValueError("a gateway needs at least one --upstream")
    if opts.balance not in ("round-robin", "least-request"):
        raise ValueError(f"--balance {opts.balance!r}: choose round-robin or least-request")
    exe = binary(name)
    if exe is None:
        raise FileNotFoundError(f"{name} is not installed: run bash .ci/gateways.sh")
    folder.mkdir(parents=True, exist_ok=True)
    base = f"http://127.0.0.1:{port}"
    least = opts.balance == "least-request"
    timeout = _seconds(opts.try_timeout_s)
    timeout_ms = max(1, round(opts.try_timeout_s * 1000))  # nginx and HAProxy take no fractions
    if name == "nginx":
        retry_on = NGINX_RETRY_ON + (" non_idempotent" if opts.retry_non_idempotent else "")
        config = _fill(
            "nginx.conf",
            folder,
            "nginx.conf",
            user_line="user root;\n" if os.geteuid() == 0 else "",
            dir=folder,
            balance_line="least_conn; " if least else "",
            servers=" ".join(f"server {u} max_fails=0;" for u in upstreams),
            try_timeout_ms=timeout_ms,
            tries=opts.retries + 1,
            port=port,
            next_upstream=retry_on,
        )
        command = [exe, "-p", str(folder), "-c", str(config), "-e", str(folder / "error.log")]
        return Rendered(command, config, base + "/health", base + "/v1", dict(os.environ))
    if name == "haproxy":
        servers = "\n".join(f"  server s{i} {u}" for i, u in enumerate(upstreams))
        config = _fill(
            "haproxy.cfg",
            folder,
            "haproxy.cfg",
            try_timeout_ms=timeout_ms,
            retries=opts.retries,
            retry_on=HAPROXY_RETRY_ON,
            port=port,
            balance="leastconn" if least else "roundrobin",
            servers=servers,
        )
        command = [exe, "-db", "-f", str(config)]
        return Rendered(command, config, base + "/health", base + "/v1", dict(os.environ))
    if name == "envoy":
        endpoints = "\n".join(
            "        - endpoint: { address: { socket_address: "
            f"{{ address: {u.rpartition(':')[0]}, port_value: {u.rpartition(':')[2]} }} }} }}"
            for u in upstreams
        )
        config = _fill(
            "envoy.yaml",
            folder,
            "envoy.yaml",
            admin_port=free_port(),
            port=port,
            retries=opts.retries,
            try_timeout_s=timeout,
            lb_policy="LEAST_REQUEST" if least else "ROUND_ROBIN",
            endpoints=endpoints,
        )
        command = [exe, "-c", str(config), "--concurrency", "1", "--disable-hot-restart"]
        command += ["-l", "warning", "--log-path", str(folder / "envoy.log")]
        return Rendered(command, config, base + "/health", base + "/v1", dict(os.environ))
    if opts.routing_strategy not in LITELLM_STRATEGIES:
        raise ValueError(
            f"--routing-strategy {opts.routing_strategy!r}: choose one of "
            + ", ".join(LITELLM_STRATEGIES)
        )
    models = opts.models or ("mock-small",) * len(upstreams)
    deployments = "\n".join(
        f"""  - model_name: mock-small
    litellm_params:
      model: openai/{model}
      api_base: {url}
      api_key: sk-upstream-unused
      timeout: {timeout}
      stream_timeout: {timeout}
    model_info:
      id: deployment-{i}"""
        for i, (url, model) in enumerate(zip(upstreams, models, strict=True))
    )
    for j, url in enumerate(opts.fallback_upstreams):
        deployments += f"""
  - model_name: mock-fallback
    litellm_params:
      model: openai/mock-small
      api_base: {url}
      api_key: sk-upstream-unused
      timeout: {timeout}
      stream_timeout: {timeout}
    model_info:
      id: fallback-{j}"""
    fallbacks = '[{"mock-small": ["mock-fallback"]}]' if opts.fallback_upstreams else "[]"
    config = _fill(
        "litellm.yaml",
        folder,
        "litellm.yaml",
        deployments=deployments,
        routing_strategy=opts.routing_strategy,
        fallbacks=fallbacks,
        disable_cooldowns=str(not opts.cooldowns).lower(),
        retries=opts.retries,
        try_timeout_s=timeout,
        master_key=opts.master_key,
    )
    env = {
        **os.environ,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_TELEMETRY": "False",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    command = [exe, "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    return Rendered(command, config, base + "/health/liveliness", base + "/v1", env)


def options_from(args: argparse.Namespace) -> Options:
    return Options(
        retries=args.retries,
        try_timeout_s=args.try_timeout,
        balance=args.balance,
        retry_non_idempotent=not args.idempotent_only,
        routing_strategy=args.routing_strategy,
        master_key=args.master_key,
        cooldowns=args.cooldowns,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="gateways/<gateway>.sh", description="Start a gateway in front of the mock."
    )
    parser.add_argument("gateway", choices=GATEWAYS)
    parser.add_argument("--port", type=int, default=4000)
    parser.add_argument(
        "--upstream",
        action="append",
        default=[],
        help="host:port of a mock listener (LiteLLM: a base URL); repeatable",
    )
    parser.add_argument("--retries", type=int, default=2, help="re-sends after the first try")
    parser.add_argument("--try-timeout", type=float, default=300.0, help="seconds per try")
    parser.add_argument("--balance", default="round-robin", help="round-robin|least-request")
    parser.add_argument("--idempotent-only", action="store_true", help="nginx: never re-POST")
    parser.add_argument("--routing-strategy", default="simple-shuffle", help="LiteLLM only")
    parser.add_argument("--cooldowns", action="store_true", help="LiteLLM: keep cooldowns")
    parser.add_argument("--master-key", default="sk-tokenstorm-gateway", help="LiteLLM only")
    parser.add_argument("--dir", type=Path, help="working folder (default: a new temp one)")
    parser.add_argument("--print", action="store_true", help="print the config, start nothing")
    args = parser.parse_args(argv)
    folder = args.dir or Path(tempfile.mkdtemp(prefix=f"tokenstorm-{args.gateway}-"))
    try:
        rendered = render(args.gateway, args.upstream, args.port, folder, options_from(args))
    except (ValueError, FileNotFoundError) as exc:
        print(f"gateways: {exc}", file=sys.stderr)
        return 2
    if args.print:
        print(rendered.config.read_text())
        return 0
    print(f"gateways: {args.gateway} on {rendered.base_url}, config {rendered.config}")
    sys.stdout.flush()
    os.execve(rendered.command[0], rendered.command, rendered.env)


if __name__ == "__main__":
    sys.exit(main())
