"""The Rasa patch keeps validating custom-action responses, only faster."""

from __future__ import annotations

import pytest
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction

from bot.rasa_ext import patches as rasa_patches


@pytest.fixture(scope="module")
def action() -> RemoteAction:
    rasa_patches.apply()
    return RemoteAction("action_x", None)


def test_a_valid_response_passes(action: RemoteAction) -> None:
    assert action._validate_action_result({"events": [{"event": "slot", "name": "a", "value": 1}], "responses": []})


@pytest.mark.parametrize("bad", [{"events": "not a list"}, {"events": [{"no_event_key": 1}]}, {"responses": 3}])
def test_an_invalid_response_is_still_rejected(action: RemoteAction, bad: dict) -> None:
    with pytest.raises(ValidationError, match="Failed to validate Action server response"):
        action._validate_action_result(bad)


def test_the_patch_is_installed_once() -> None:
    rasa_patches.apply()
    rasa_patches.apply()
    assert RemoteAction._validate_action_result is rasa_patches._validate_action_result
