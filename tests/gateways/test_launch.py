"""``gateways/launch.py`` renders configs each gateway's own checker accepts, for every balance
option; a bad option or a missing gateway is one line from the launcher, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from gateways.launch import GATEWAYS, Options, render

if TYPE_CHECKING:
    from conftest import Gateways

ROOT = Path(__file__).resolve().parents[2]
UPSTREAMS = ["127.0.0.1:9001", "127.0.0.1:9002"]


def _check_command(name: str, gateways: Gateways, config: Path) -> list[str]:
    if name == "nginx":
        return [gateways.nginx, "-t", "-p", str(config.parent), "-c", str(config)]
    if name == "haproxy":
        return [gateways.haproxy, "-c", "-f", str(config)]
    return [gateways.envoy, "--mode", "validate", "-c", str(config)]


@pytest.mark.parametrize("balance", ["round-robin", "least-request"])
@pytest.mark.parametrize("name", ["nginx", "haproxy", "envoy"])
def test_rendered_configs_pass_the_gateways_own_check(
    gateways: Gateways, tmp_path: Path, name: str, balance: str
) -> None:
    options = Options(retries=3, try_timeout_s=1.5, balance=balance)
    rendered = render(name, UPSTREAMS, 4567, tmp_path, options)
    text = rendered.config.read_text()
    assert "9001" in text and "9002" in text and "4567" in text
    check = subprocess.run(
        _check_command(name, gateways, rendered.config),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert rendered.base_url == "http://127.0.0.1:4567/v1"


def test_litellm_config_names_every_deployment(gateways: Gateways, tmp_path: Path) -> None:
    options = Options(routing_strategy="least-busy", cooldowns=True, retries=1)
    urls = ["http://127.0.0.1:9001/v1", "http://127.0.0.1:9002/v1"]
    text = render("litellm", urls, 4000, tmp_path, options).config.read_text()
    assert all(f"api_base: {url}" in text for url in urls)
    assert "routing_strategy: least-busy" in text and "disable_cooldowns: false" in text
    assert "num_retries: 1" in text


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["nginx"], "at least one --upstream"),
        (["haproxy", "--upstream", "127.0.0.1:1", "--balance", "random"], "--balance 'random'"),
        (["litellm", "--upstream", "http://x/v1", "--routing-strategy", "x"], "routing-strategy"),
    ],
)
def test_launcher_mistakes_are_one_line(args: list[str], says: str, tmp_path: Path) -> None:
    command = [sys.executable, "-m", "gateways.launch", *args, "--dir", str(tmp_path)]
    result = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], result.stderr


def test_every_gateway_has_a_one_line_launcher() -> None:
    for name in GATEWAYS:
        launcher = ROOT / "gateways" / f"{name}.sh"
        code = [line for line in launcher.read_text().splitlines() if not line.startswith("#")]
        assert len(code) == 1 and f"gateways.launch {name}" in code[0]
