"""One measured fix to Rasa 3.6, applied when the Rasa server imports our modules.

``RemoteAction._validate_action_result`` calls ``jsonschema.validate`` on every custom-action
response, and ``jsonschema.validate`` checks the *schema itself* against its meta-schema each
time before validating the response. With the pinned jsonschema that check dominated a turn:
profiling a five-turn conversation (``make bench`` showed 27 turns/s at saturation after the
forms were added) put 72 % of the Rasa server's time in ``check_schema``. The response is
still validated against the same schema, with a validator built once.
"""

from __future__ import annotations

import functools
from typing import Any, Dict, Text

_applied = False


@functools.lru_cache(maxsize=1)
def _validator() -> Any:
    from jsonschema.validators import validator_for
    from rasa.core.actions.action import RemoteAction

    schema = RemoteAction.action_response_format_spec()
    cls = validator_for(schema)
    cls.check_schema(schema)  # once, at first use
    return cls(schema)


def _validate_action_result(self: Any, result: Dict[Text, Any]) -> bool:
    from jsonschema import ValidationError
    from rasa.shared.constants import DOCS_BASE_URL

    try:
        _validator().validate(result)
        return True
    except ValidationError as e:
        e.message += (
            ". Failed to validate Action server response from API, make sure your response from "
            f"the Action endpoint is valid. For more information about the format visit {DOCS_BASE_URL}/custom-actions"
        )
        raise e


def apply() -> None:
    """Installs the patch (idempotent)."""
    global _applied
    if _applied:
        return
    from rasa.core.actions.action import RemoteAction

    RemoteAction._validate_action_result = _validate_action_result  # type: ignore[method-assign]
    _applied = True
