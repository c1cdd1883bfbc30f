"""What every route of the agents' API shares: JSON errors and reading a JSON body.

A route raises :class:`ApiError`; the route decorator of :func:`bot.agent_api.routes.create_blueprint`
answers it as ``{"error": "..."}`` (plus ``extra`` fields) with its status, never a stack trace.
"""

from __future__ import annotations

import json
from typing import Any, Dict, Optional

from sanic.request import Request

MAX_TEXT = 2000
"""Longest agent message or note, in characters (longer is 413)."""


class ApiError(Exception):
    """An error answered with a JSON body and a 4xx/5xx status; ``extra`` fields join ``error``."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.extra = extra


def body_of(request: Request) -> Dict[str, Any]:
    """The JSON object of a request.

    Raises:
        ApiError: 400 when the body is not a JSON object.
    """
    try:
        data = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ApiError(400, "body must be a JSON object")
    if not isinstance(data, dict):
        raise ApiError(400, "body must be a JSON object")
    return data


def required_text(data: Dict[str, Any], name: str, *, limit: int = MAX_TEXT) -> str:
    """A required non-empty string field (see :func:`text_field`)."""
    value = text_field(data, name, limit=limit)
    assert value is not None
    return value


def text_field(data: Dict[str, Any], name: str, *, required: bool = True, limit: int = MAX_TEXT) -> Optional[str]:
    """A non-empty string field of at most ``limit`` characters, stripped.

    Raises:
        ApiError: 400 when missing or empty (and required), 413 when longer than ``limit``.
    """
    value = data.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ApiError(400, f"'{name}' is required (non-empty string)")
    if len(value) > limit:
        raise ApiError(413, f"'{name}' is longer than {limit} characters")
    return value.strip()
