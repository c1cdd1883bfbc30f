"""Who may call the agents' API: a bearer token compared in constant time.

The token is ``BOT_API_TOKEN`` from the environment, given as ``?token=`` or
``Authorization: Bearer <token>``. No token configured refuses every protected route.
"""

from __future__ import annotations

import hmac
import os

from sanic.request import Request

ENV_VAR = "BOT_API_TOKEN"
"""Environment variable holding the agents' API token."""


def given_token(request: Request) -> str:
    """The token the request carries (query parameter first, then the bearer header), or ``""``."""
    header = request.headers.get("authorization") or ""
    return request.args.get("token") or (header[7:] if header.lower().startswith("bearer ") else "")


def check_token(request: Request) -> bool:
    """True when the request carries ``BOT_API_TOKEN`` (``hmac.compare_digest``); never raises."""
    expected = os.environ.get(ENV_VAR) or ""
    try:
        return bool(expected) and hmac.compare_digest(given_token(request).encode(), expected.encode())
    except Exception:  # noqa: BLE001 - a malformed request is simply not authorised
        return False
