"""``--watch``, ``--watch-every``, ``--watch-series`` and ``--metrics-port``: parsed into the
runner's settings; a bad value is one line naming the flag."""

from __future__ import annotations

import argparse

import pytest

from harness.cli.errors import UserError
from harness.cli.watch_flags import add_watch_flags, metrics_from_flags, watch_from_flags
from harness.watch.scrape import DEFAULT_SERIES


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_watch_flags(parser)
    return parser.parse_args(list(argv))


def test_watch_flags_become_settings() -> None:
    settings = watch_from_flags(
        _args("--watch", "mock", "--watch", "http://127.0.0.1:4000/metrics", "--watch-every", "2")
    )
    assert settings is not None
    assert settings.urls == ("mock", "http://127.0.0.1:4000/metrics")
    assert (settings.every_s, settings.timeout_s) == (2.0, 2.0)
    assert settings.series == DEFAULT_SERIES
    assert watch_from_flags(_args()) is None
    series = watch_from_flags(_args("--watch", "mock", "--watch-series", "vllm:*"))
    assert series is not None and series.series == ("vllm:*",)


def test_metrics_port_defaults_to_loopback() -> None:
    assert metrics_from_flags(_args("--metrics-port", "9100")) == ("127.0.0.1", 9100)
    assert metrics_from_flags(_args("--metrics-port", "0.0.0.0:9100")) == ("0.0.0.0", 9100)
    assert metrics_from_flags(_args()) is None


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (("--watch", "localhost:9090/metrics"), "--watch"),
        (("--watch", "mock", "--watch-every", "0"), "--watch-every"),
        (("--metrics-port", "http"), "--metrics-port"),
        (("--metrics-port", "70000"), "--metrics-port"),
    ],
)
def test_bad_values_are_one_line(argv: tuple[str, ...], flag: str) -> None:
    args = _args(*argv)
    with pytest.raises(UserError) as caught:
        watch_from_flags(args)
        metrics_from_flags(args)
    assert str(caught.value).startswith(flag)
    assert "\n" not in str(caught.value)
