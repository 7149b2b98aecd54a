"""Real gateways in front of the mock: provisioning once per session (``.ci/gateways.sh``), then
the mock and the gateways of ``gateways/`` (nginx, HAProxy, Envoy, LiteLLM proxy) on free
loopback ports, each in its own process group, ready-checked with a deadline and killed as a
group on teardown."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateways.launch import GATEWAYS, Options, binary, free_port, render
from harness.cli.main import main
from harness.contract.records import AttemptRecord, LedgerEntry, from_dict, read_jsonl
from mock_models.embedded import EmbeddedMock
from mock_models.settings import DeploymentSettings, MockSettings

ROOT = Path(__file__).resolve().parents[2]
PROVISION = ROOT / ".ci" / "gateways.sh"
#: ``gateways.sh --check`` only looks at files (and imports litellm's metadata).
CHECK_TIMEOUT_S = 30.0
#: Seconds each gateway gets to answer its health URL. LiteLLM's own start-up is 7-10 s on an
#: idle machine; 2 busy shared cores stretch it.
READY_S = {"nginx": 15.0, "haproxy": 15.0, "envoy": 30.0, "litellm": 90.0}
MASTER_KEY = "sk-tokenstorm-gateway-tests"
#: LiteLLM's per-call timeout: a healthy mock answers in a fifth of a second, but LiteLLM itself
#: can take seconds on 2 busy cores, and a call it times out it retries.
LITELLM_TRY_TIMEOUT_S = 5.0
WARM_UP = {"role": "user", "content": "warm up"}


@dataclass(frozen=True, slots=True)
class Gateways:
    nginx: str
    haproxy: str
    envoy: str
    litellm: str


def _installed() -> Gateways | None:
    found = [binary(name) for name in GATEWAYS]
    return None if None in found else Gateways(*(str(path) for path in found))


@pytest.fixture(scope="session")
def gateways() -> Gateways:
    """nginx, HAProxy, Envoy and LiteLLM proxy (pinned), as the README's test command
    provisions them with ``.ci/gateways.sh``; here only checked (tests install nothing and
    reach no registry). Missing ones fail the tests with the script's one line, never skip them."""
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

    def set_rule(self, kind: str, *, first_attempts: int | None = None, **params: float) -> None:
        """A profile of one rule hitting every attempt (``first_attempts``: only those)."""
        rule: dict[str, Any] = {"kind": kind, "probability": 1.0, "params": params}
        if first_attempts is not None:
            rule["first_attempts"] = first_attempts
        response = httpx.put(
            self.base_url + "/tokenstorm/faults", json={"rule": [rule]}, timeout=5.0
        )
        assert response.status_code == 200, response.text

    def ledger_of(self, run_id: str) -> list[LedgerEntry]:
        """The run's lines of the mock's ledger, read now (``GET /tokenstorm/ledger``)."""
        response = httpx.get(self.ledger_url, params={"run_id": run_id}, timeout=10.0)
        response.raise_for_status()
        lines = response.text.splitlines()
        return [from_dict(LedgerEntry, json.loads(line)) for line in lines if line.strip()]

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


@pytest.fixture(scope="session")
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


def start_gateway(
    name: str,
    upstreams: Sequence[str],
    folder: Path,
    options: Options | None = None,
) -> tuple[Service, str]:
    """One gateway from ``gateways/`` (its config rendered by ``gateways.launch``, the same
    the launchers and benches use) on a free port; returns the service and its base URL."""
    rendered = render(name, upstreams, free_port(), folder, options)
    label = f"{name} ({folder.name})"
    service = Service(label, rendered.command, folder / "stdout.log", env=rendered.env, cwd=folder)
    service.wait_ready(rendered.health_url, READY_S[name])
    return service, rendered.base_url


def mock_servers(upstream: Upstream) -> list[str]:
    return [f"127.0.0.1:{port}" for port in upstream.ports]


@pytest.fixture(scope="module")
def nginx(
    gateways: Gateways, upstream: Upstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Nginx]:
    servers = mock_servers(upstream)
    with contextlib.ExitStack() as stack:
        urls = []
        for which, resend in (("retry", True), ("default", False)):
            service, url = start_gateway(
                "nginx",
                servers,
                tmp_path_factory.mktemp(f"nginx-{which}"),
                Options(retries=2, try_timeout_s=10.0, retry_non_idempotent=resend),
            )
            stack.callback(service.stop)
            urls.append(url)
        yield Nginx(*urls)


@pytest.fixture(scope="module")
def policy_gateways(
    gateways: Gateways,
    upstream: Upstream,
    litellm_retry2: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, str]]:
    """Each gateway's base URL: two retries, 1 s per try, round-robin over both replicas
    (LiteLLM: the session's, 5 s per call, one deployment on the shared listener, so it
    honours ``retry-after``)."""
    options = Options(retries=2, try_timeout_s=1.0)
    urls = {"litellm": litellm_retry2}
    with contextlib.ExitStack() as stack:
        for name in ("nginx", "haproxy", "envoy"):
            folder = tmp_path_factory.mktemp(f"policy-{name}")
            service, urls[name] = start_gateway(name, mock_servers(upstream), folder, options)
            stack.callback(service.stop)
        yield urls


def start_litellm(
    gateways: Gateways, api_base: str, num_retries: int, folder: Path
) -> tuple[Service, str]:
    """LiteLLM proxy with one deployment at ``api_base``, ``LITELLM_TRY_TIMEOUT_S`` per call,
    warmed up (its first call sets up clients for most of a second, which would otherwise
    time out); returns the service and its URL."""
    options = Options(
        retries=num_retries, try_timeout_s=LITELLM_TRY_TIMEOUT_S, master_key=MASTER_KEY
    )
    service, url = start_gateway("litellm", [api_base], folder, options)
    for stream in (False, True):
        warm = httpx.post(
            url + "/chat/completions",
            json={"model": "mock-small", "stream": stream, "messages": [WARM_UP]},
            headers={"Authorization": f"Bearer {MASTER_KEY}"},
            timeout=60.0,
        )
        if warm.status_code != 200:
            service.stop()
            pytest.fail(f"LiteLLM's warm-up call failed: {warm.text[:200]}", pytrace=False)
    return service, url


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


@pytest.fixture(scope="session")
def litellm_retry2(
    gateways: Gateways, upstream: Upstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """LiteLLM proxy with ``num_retries: 2`` (its OpenAI base URL); one start
    per session, as its start-up alone takes 10-30 s."""
    yield from _litellm(gateways, upstream, 2, tmp_path_factory)


@pytest.fixture(scope="session")
def litellm_noretry(
    gateways: Gateways, upstream: Upstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """LiteLLM proxy with ``num_retries: 0`` (without it the router retries twice anyway)."""
    yield from _litellm(gateways, upstream, 0, tmp_path_factory)


@pytest.fixture
def master_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """The client's key (read from the scenario's key variable) is LiteLLM's master key."""
    monkeypatch.setenv("OPENAI_API_KEY", MASTER_KEY)
