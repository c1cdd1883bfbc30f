"""tests/conftest.py: which layer (unit, integration, e2e marker) a test lands in."""

from __future__ import annotations

from tests.conftest import layer_of


def test_a_test_without_servers_is_a_unit_test() -> None:
    assert layer_of({"tmp_path", "monkeypatch"}, set()) == "unit"


def test_redis_makes_an_integration_test_and_the_model_an_e2e_test() -> None:
    assert layer_of({"redis_client", "redis_server"}, set()) == "integration"
    assert layer_of({"redis_server", "model_path", "bot"}, set()) == "e2e"
    assert layer_of({"browser"}, set()) == "e2e"


def test_a_test_that_starts_processes_itself_is_an_integration_test() -> None:
    assert layer_of({"tmp_path"}, set(), starts_processes=True) == "integration"


def test_an_explicit_marker_can_only_make_a_test_heavier() -> None:
    assert layer_of(set(), {"e2e"}) == "e2e"
    assert layer_of({"bot"}, {"unit"}) == "e2e"
    assert layer_of({"redis_server"}, {"parametrize", "e2e"}) == "e2e"
