"""Real gateways in front of the mock: provisioning once per session (``.ci/gateways.sh``), then
the mock, nginx and LiteLLM proxy on free loopback ports, each in its own process group,
ready-checked with a deadline and killed as a group on teardown."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.cli.main import main
from harness.contract.records import AttemptRecord, LedgerEntry, read_jsonl
from mock_models.embedded import EmbeddedMock
from mock_models.settings import DeploymentSettings, MockSettings

ROOT = Path(__file__).resolve().parents[2]
PROVISION = ROOT / ".ci" / "gateways.sh"
GATEWAYS_VENV = Path(os.environ.get("TOKENSTORM_GATEWAYS_VENV", ROOT / ".venv-gateways"))
if not GATEWAYS_VENV.is_absolute():
    GATEWAYS_VENV = ROOT / GATEWAYS_VENV
#: ``gateways.sh --check`` only looks at files (and imports litellm's metadata).
CHECK_TIMEOUT_S = 30.0
#: LiteLLM's own start-up is 7-10 s on an idle machine; 2 busy shared cores stretch it.
LITELLM_READY_S = 90.0
NGINX_READY_S = 15.0
MASTER_KEY = "sk-tokenstorm-gateway-tests"


@dataclass(frozen=True, slots=True)
class Gateways:
    nginx: str
    litellm: str


def _installed() -> Gateways | None:
    nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    litellm = GATEWAYS_VENV / "bin" / "litellm"
    return Gateways(nginx, str(litellm)) if nginx and litellm.exists() else None


@pytest.fixture(scope="session")
def gateways() -> Gateways:
    """nginx and LiteLLM proxy (pinned), as the README's test command provisions them with
    ``.ci/gateways.sh``; here only checked (tests install nothing and reach no registry).
    Missing ones fail the tests with the script's one line, never skip them."""
    try:
        result = subprocess.run(
            ["bash", str(PROVISION), "--check"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=CHECK_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(
            f"{PROVISION} --check did not finish within {CHECK_TIMEOUT_S:g} s", pytrace=False
        )
    found = _installed()
    if result.returncode != 0 or found is None:
        lines = (result.stderr.strip() or result.stdout.strip() or "no output").splitlines()
        pytest.fail(f"the gateways are not provisioned: {lines[-1]}", pytrace=False)
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Service:
    """A child process in its own session (so its whole group can be killed), logging to a
    file; ``wait_ready`` polls a URL until it answers or the deadline passes."""

    def __init__(
        self,
        name: str,
        command: list[str],
        log: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name, self.log = name, log
        with log.open("wb") as sink:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=cwd,
                start_new_session=True,
            )

    def _tail(self) -> str:
        text = self.log.read_text(errors="replace").strip().splitlines()
        return " | ".join(text[-5:]) or "(no output)"

    def wait_ready(
        self,
        url: str,
        timeout_s: float,
        headers: dict[str, str] | None = None,
    ) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.stop()
                pytest.fail(
                    f"{self.name} exited with {self.process.returncode} before it was "
                    f"ready: {self._tail()}",
                    pytrace=False,
                )
            try:
                if httpx.get(url, headers=headers, timeout=2.0).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        pytest.fail(
            f"{self.name} was not ready at {url} within {timeout_s:g} s: {self._tail()}",
            pytrace=False,
        )

    def stop(self) -> None:
        """SIGTERM to the group; once the leader has exited (still unreaped, so its group id
        cannot be reused), SIGKILL to whatever of the group is left; then reap it."""
        pid = self.process.pid
        if self.process.returncode is not None:
            # The leader is reaped already; the rest of its group (workers) may not be. While
            # any member lives, the group id cannot be handed out again.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10.0
        while (
            time.monotonic() < deadline
            and os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None
        ):
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        self.process.wait(10)


@dataclass(frozen=True, slots=True)
class Upstream:
    """The mock: one ledger, and two deployments on listeners of their own (two "servers")."""

    base_url: str
    ports: tuple[int, int]

    @property
    def ledger_url(self) -> str:
        return self.base_url + "/tokenstorm/ledger"

    def set_faults(self, **probabilities: float) -> None:
        """A fault profile of one rule per kind, with these probabilities (none: no faults)."""
        rules = [{"kind": kind, "probability": p} for kind, p in probabilities.items()]
        response = httpx.put(
            self.base_url + "/tokenstorm/faults", json={"rule": rules}, timeout=5.0
        )
        assert response.status_code == 200, response.text

    def reset(self) -> None:
        httpx.post(self.base_url + "/tokenstorm/admin/reset", timeout=5.0).raise_for_status()


def _replica(name: str) -> DeploymentSettings:
    # Constant timing, any model name: what passes through a gateway is easy to check.
    return DeploymentSettings(
        name=name,
        model="*",
        port=0,
        ttft_ms=30.0,
        itl_ms=8.0,
        prefill_ms_per_token=0.0,
        jitter=0.0,
        output_tokens=12,
        output_tokens_sigma=0.0,
    )


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    settings = MockSettings(seed=7, deployments=(_replica("replica-a"), _replica("replica-b")))
    with EmbeddedMock(settings) as mock:
        listeners = httpx.get(mock.base_url + "/tokenstorm/listeners", timeout=5.0).json()
        ports = (int(listeners["replica-a"]["port"]), int(listeners["replica-b"]["port"]))
        yield Upstream(mock.base_url, ports)


@dataclass(frozen=True, slots=True)
class Nginx:
    #: Two servers, POST re-sent on failure (``non_idempotent``).
    retry_url: str
    #: Two servers, nginx's default for POST: never re-sent once sent.
    default_url: str


def nginx_config(
    prefix: Path, upstream_ports: tuple[int, int], retry_port: int, default_port: int
) -> str:
    servers = " ".join(f"server 127.0.0.1:{port} max_fails=0;" for port in upstream_ports)
    retry_on = "error timeout http_500 http_502 http_503 http_504 http_429"
    # As root the master hands sockets and temp files to the worker's user; keep it root so
    # the worker can use the private tmp prefix.
    user = "user root;\n" if os.geteuid() == 0 else ""
    return f"""{user}worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 256; }}
http {{
  log_format tries '$request $status upstream=[$upstream_addr] statuses=[$upstream_status]';
  access_log {prefix}/access.log tries;
  client_body_temp_path {prefix}/body;
  proxy_temp_path {prefix}/proxy;
  fastcgi_temp_path {prefix}/fastcgi;
  uwsgi_temp_path {prefix}/uwsgi;
  scgi_temp_path {prefix}/scgi;
  client_body_buffer_size 1m;
  # max_fails=0: a failing server is never benched, so every request meets both.
  upstream mocks {{ {servers} keepalive 16; }}
  proxy_http_version 1.1;
  proxy_set_header Connection "";
  proxy_connect_timeout 2s;
  proxy_read_timeout 10s;
  proxy_buffering off;
  proxy_next_upstream_tries 3;
  server {{ listen 127.0.0.1:{retry_port};
    location / {{ proxy_pass http://mocks; proxy_next_upstream {retry_on} non_idempotent; }} }}
  server {{ listen 127.0.0.1:{default_port};
    location / {{ proxy_pass http://mocks; proxy_next_upstream {retry_on}; }} }}
}}
"""


@pytest.fixture(scope="module")
def nginx(
    gateways: Gateways, upstream: Upstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Nginx]:
    prefix = tmp_path_factory.mktemp("nginx")
    retry_port, default_port = free_port(), free_port()
    conf = prefix / "nginx.conf"
    conf.write_text(nginx_config(prefix, upstream.ports, retry_port, default_port))
    service = Service(
        "nginx",
        [gateways.nginx, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")],
        prefix / "stdout.log",
    )
    try:
        for port in (retry_port, default_port):
            service.wait_ready(f"http://127.0.0.1:{port}/health", NGINX_READY_S)
        yield Nginx(f"http://127.0.0.1:{retry_port}/v1", f"http://127.0.0.1:{default_port}/v1")
    finally:
        service.stop()


def litellm_config(api_base: str, num_retries: int) -> str:
    return f"""model_list:
  - model_name: mock-small
    litellm_params:
      model: openai/mock-small
      api_base: {api_base}
      api_key: sk-upstream-unused
      timeout: 20
router_settings:
  num_retries: {num_retries}
  timeout: 20
  retry_after: 0
litellm_settings:
  num_retries: {num_retries}
  request_timeout: 20
  telemetry: false
general_settings:
  master_key: {MASTER_KEY}
"""


def start_litellm(
    gateways: Gateways, api_base: str, num_retries: int, folder: Path
) -> tuple[Service, str]:
    """LiteLLM proxy with our config; returns the service and its OpenAI base URL."""
    config = folder / f"litellm_retries{num_retries}.yaml"
    config.write_text(litellm_config(api_base, num_retries))
    port = free_port()
    env = {
        **os.environ,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_TELEMETRY": "False",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    service = Service(
        f"litellm (num_retries {num_retries})",
        [gateways.litellm, "--config", str(config), "--host", "127.0.0.1", "--port", str(port)],
        folder / f"litellm_retries{num_retries}.log",
        env=env,
        cwd=folder,
    )
    service.wait_ready(f"http://127.0.0.1:{port}/health/liveliness", LITELLM_READY_S)
    return service, f"http://127.0.0.1:{port}/v1"


@dataclass(frozen=True, slots=True)
class Run:
    summary: dict[str, Any]
    folder: Path

    @property
    def records(self) -> list[AttemptRecord]:
        return list(read_jsonl(self.folder / "records.jsonl", AttemptRecord))

    @property
    def ledger(self) -> list[LedgerEntry]:
        return list(read_jsonl(self.folder / "ledger.jsonl", LedgerEntry))

    @property
    def manifest(self) -> dict[str, Any]:
        return dict(json.loads((self.folder / "manifest.json").read_text()))


class GatewayRuns:
    """``tokenstorm run`` (the CLI's ``main``, in-process) of a small streaming scenario with
    client retries off, so every upstream attempt beyond one per request is the gateway's."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def scenario(
        self,
        name: str,
        url: str,
        *,
        rate_rps: float = 8.0,
        duration_s: float = 2.0,
        tag_prompt: bool = False,
    ) -> Path:
        path = self.folder / f"{name}.toml"
        path.write_text(f"""name = "{name}"
seed = 11
duration = "{duration_s}s"
drain = "40s"
[target]
url = "{url}"
model = "mock-small"
timeout = "30s"
stream = true
tag_prompt = {str(tag_prompt).lower()}
[client.retry]
attempts = 1
[arrival]
process = "constant"
rate = "{rate_rps}/s"
[[workload]]
kind = "stream"
share = 1.0
prompt_tokens = {{ dist = "constant", value = 200 }}
max_tokens = 12
""")
        return path

    def run(
        self, name: str, url: str, ledger_url: str, *, run_id: str | None = None, **scenario: Any
    ) -> Run:
        """Run scenario ``name`` (one plan per name) as ``run_id`` (default: the name)."""
        path = self.scenario(name, url, **scenario)
        run_id = run_id or name
        code = main(
            [
                "run",
                str(path),
                "--ledger",
                ledger_url,
                "--out",
                str(self.folder),
                "--run-id",
                run_id,
                "--no-progress",
            ]
        )
        folder = self.folder / run_id
        assert code == 0, (folder / "manifest.json").read_text()
        return Run(json.loads((folder / "summary.json").read_text()), folder)


@pytest.fixture
def runs(tmp_path: Path) -> GatewayRuns:
    return GatewayRuns(tmp_path)


def _litellm(
    gateways: Gateways,
    upstream: Upstream,
    num_retries: int,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    service, url = start_litellm(
        gateways, upstream.base_url + "/v1", num_retries, tmp_path_factory.mktemp("litellm")
    )
    try:
        yield url
    finally:
        service.stop()


@pytest.fixture(scope="module")
def litellm_retry2(
    gateways: Gateways, upstream: Upstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """LiteLLM proxy with ``num_retries: 2`` (its OpenAI base URL); one start per module, as
    its start-up alone takes seconds."""
    yield from _litellm(gateways, upstream, 2, tmp_path_factory)


@pytest.fixture(scope="module")
def litellm_noretry(
    gateways: Gateways, upstream: Upstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """LiteLLM proxy with ``num_retries: 0`` (without it the router retries twice anyway)."""
    yield from _litellm(gateways, upstream, 0, tmp_path_factory)


@pytest.fixture
def master_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """The client's key (read from the scenario's key variable) is LiteLLM's master key."""
    monkeypatch.setenv("OPENAI_API_KEY", MASTER_KEY)
