from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness import prices_refresh
from harness.contract.terms import Price
from harness.cost import DEFAULT_PRICE_AS, ModelPrice, load_price_book, read_snapshot


@pytest.fixture(scope="module")
def snapshot() -> dict[str, ModelPrice]:
    return read_snapshot()[0]


def test_snapshot_ships_with_its_origin_and_date() -> None:
    _, info = read_snapshot()
    assert info["litellm_version"]
    assert len(info["date"]) == 10 and info["date"][4] == "-"


def test_snapshot_file_is_plain_json_and_trimmed() -> None:
    path = Path(prices_refresh.DEFAULT_OUT)
    raw = json.loads(path.read_text(encoding="utf-8"))
    entries = {k: v for k, v in raw.items() if k != "_snapshot"}
    assert entries
    assert all(v["mode"] in {"chat", "completion"} for v in entries.values())
    assert all(set(v) <= set(prices_refresh.KEPT_FIELDS) for v in entries.values())


def test_mock_models_and_deployments_have_default_prices(snapshot: dict[str, ModelPrice]) -> None:
    book = load_price_book({})
    for name, real in DEFAULT_PRICE_AS.items():
        price = book.price_for(name, None)
        assert price is not None
        assert price.input_usd_per_token == snapshot[real].input_usd_per_token
        assert price.output_usd_per_token == snapshot[real].output_usd_per_token


def test_cost_formula_bills_cached_tokens_at_the_cache_read_price(
    snapshot: dict[str, ModelPrice],
) -> None:
    book = load_price_book({})
    real = snapshot["gpt-4o"]
    assert real.cache_read_usd_per_token is not None
    expected = (
        900 * real.input_usd_per_token
        + 100 * real.cache_read_usd_per_token
        + 20 * real.output_usd_per_token
    )
    assert book.cost_usd("gpt-4o", None, 1000, 100, 20) == pytest.approx(expected)


def test_cached_tokens_fall_back_to_the_input_price() -> None:
    price = ModelPrice(2e-6, 8e-6, None, None, source="test")
    assert price.cost_usd(1000, 400, 10) == pytest.approx(1000 * 2e-6 + 10 * 8e-6)


def test_unknown_model_has_no_cost() -> None:
    book = load_price_book({})
    assert book.price_for("no-such-model", "no-such-deployment") is None
    assert book.cost_usd("no-such-model", None, 10, 0, 10) is None


def test_scenario_price_as_overrides_defaults_and_deployment_beats_model(
    snapshot: dict[str, ModelPrice],
) -> None:
    book = load_price_book(
        {
            "small-fast": Price(price_as="gpt-4o"),
            "mock-small": Price(input_per_mtok=1.0, output_per_mtok=2.0),
        }
    )
    on_deployment = book.price_for("mock-small", "small-fast")
    assert on_deployment is not None
    assert on_deployment.input_usd_per_token == snapshot["gpt-4o"].input_usd_per_token
    elsewhere = book.price_for("mock-small", "other-deployment")
    assert elsewhere is not None
    assert elsewhere.input_usd_per_token == pytest.approx(1e-6)
    assert elsewhere.output_usd_per_token == pytest.approx(2e-6)
    assert book.cost_usd("mock-small", None, 1_000_000, 0, 1_000_000) == pytest.approx(3.0)


def test_unknown_price_as_names_it_and_suggests_close_names() -> None:
    with pytest.raises(ValueError, match="gpt-4o-mni") as info:
        load_price_book({"my-deployment": Price(price_as="gpt-4o-mni")})
    assert "gpt-4o-mini" in str(info.value)
    assert "my-deployment" in str(info.value)


def test_incomplete_explicit_price_is_an_error() -> None:
    with pytest.raises(ValueError, match="output_per_mtok"):
        load_price_book({"m": Price(input_per_mtok=1.0)})


def test_prices_per_million_read_without_float_noise(snapshot: dict[str, ModelPrice]) -> None:
    shown = snapshot["gpt-4o"].as_dict()["input_usd_per_mtok"]
    assert shown == round(snapshot["gpt-4o"].input_usd_per_token * 1e6, 9)


def test_trim_keeps_priced_chat_and_completion_models_only() -> None:
    raw = {
        "sample_spec": {"mode": "chat", "input_cost_per_token": 0.0, "output_cost_per_token": 0.0},
        "chatty": {
            "mode": "chat",
            "input_cost_per_token": 1e-6,
            "output_cost_per_token": 2e-6,
            "supports_vision": True,
            "max_input_tokens": 1000,
        },
        "old": {"mode": "completion", "input_cost_per_token": 1e-6, "output_cost_per_token": 1e-6},
        "embedder": {
            "mode": "embedding",
            "input_cost_per_token": 1e-7,
            "output_cost_per_token": 0.0,
        },
        "unpriced": {"mode": "chat"},
    }
    trimmed = prices_refresh.trim_prices(raw, {"date": "2020-01-02"})
    assert list(trimmed) == ["_snapshot", "chatty", "old"]
    assert trimmed["chatty"] == {
        "mode": "chat",
        "input_cost_per_token": 1e-6,
        "output_cost_per_token": 2e-6,
        "max_input_tokens": 1000,
    }
    assert json.loads(prices_refresh.dumps_snapshot(trimmed)) == trimmed


def test_refresh_from_a_local_wheel_writes_a_loadable_snapshot(tmp_path: Path) -> None:
    import zipfile

    wheel = tmp_path / "litellm-9.9.9-py3-none-any.whl"
    raw = {"m": {"mode": "chat", "input_cost_per_token": 1e-6, "output_cost_per_token": 3e-6}}
    with zipfile.ZipFile(wheel, "w") as archive:
        info = zipfile.ZipInfo(prices_refresh.PRICE_MEMBER, date_time=(2025, 3, 4, 0, 0, 0))
        archive.writestr(info, json.dumps(raw))
    out = tmp_path / "prices.json"
    code = prices_refresh.main(
        ["--litellm-version", "9.9.9", "--wheel", str(wheel), "--out", str(out)]
    )
    assert code == 0
    written = json.loads(out.read_text(encoding="utf-8"))
    assert written["_snapshot"]["date"] == "2025-03-04"
    assert written["_snapshot"]["litellm_version"] == "9.9.9"
    assert written["m"]["output_cost_per_token"] == 3e-6


def test_cache_writes_are_billed_at_the_cache_creation_price(
    snapshot: dict[str, ModelPrice],
) -> None:
    real = snapshot["claude-sonnet-4-5"]
    assert real.cache_creation_usd_per_token is not None
    assert real.cache_read_usd_per_token is not None
    book = load_price_book({})
    expected = (
        300 * real.input_usd_per_token
        + 500 * real.cache_read_usd_per_token
        + 200 * real.cache_creation_usd_per_token
        + 10 * real.output_usd_per_token
    )
    assert book.cost_usd("claude-sonnet-4-5", None, 1000, 500, 10, 200) == pytest.approx(expected)
    # Anthropic's published ratios: writes 1.25x the input price, reads 0.1x.
    assert real.cache_creation_usd_per_token == pytest.approx(1.25 * real.input_usd_per_token)


def test_cache_writes_never_exceed_the_uncached_prompt_and_fall_back_to_input() -> None:
    price = ModelPrice(2e-6, 8e-6, 1e-7, None, source="test")
    # Without a creation price, a write costs what plain input costs.
    assert price.cost_usd(1000, 0, 0, 400) == pytest.approx(price.cost_usd(1000, 0, 0))
    # Writes beyond what is left after the cached tokens are not billed twice.
    assert price.cost_usd(1000, 900, 0, 500) == pytest.approx(100 * 2e-6 + 900 * 1e-7)


def test_explicit_cache_write_price() -> None:
    book = load_price_book(
        {
            "mine": Price(
                input_per_mtok=3.0,
                output_per_mtok=15.0,
                cached_input_per_mtok=0.3,
                cache_write_per_mtok=3.75,
            )
        }
    )
    price = book.price_for("mine", None)
    assert price is not None and price.as_dict()["cache_write_usd_per_mtok"] == 3.75
    assert book.cost_usd("mine", None, 1_000_000, 0, 0, 1_000_000) == pytest.approx(3.75)
