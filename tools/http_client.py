"""The developer tools' one HTTP client (on ``requests``): the dev stack, the tests, the benchmark, the transcripts.

Blocking calls to a local server, for command-line tools and test set-up only: the bot's request paths use
aiohttp (CONVENTIONS.md, "Async all the way"), and so does the benchmark's load generator, which needs many
requests in flight at once.

Two kinds of call:

* :func:`request` / :func:`json_request` return every answer, error statuses included, as ``(status, ...)``:
  tests assert on the status themselves.
* :func:`get_json` / :func:`post_json` return the decoded body and raise :class:`requests.HTTPError` on a
  status of 400 or more: tools that expect success.

(Named ``http_client``, not ``http``: ``python tools/x.py`` puts ``tools/`` first on ``sys.path``, where a
``http.py`` would shadow the standard library's ``http``.)
"""

from __future__ import annotations

import json
from typing import Any

import requests

JSON_HEADERS = {"Content-Type": "application/json"}


def _encode(method: str, body: Any) -> bytes | None:
    """The request body: bytes as they are, anything else as UTF-8 JSON; None is no body (empty for POST)."""
    if body is None:
        return b"" if method.upper() == "POST" else None
    if isinstance(body, bytes):
        return body
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


def request(
    method: str, url: str, body: Any = None, *, headers: dict[str, str] | None = None, timeout: float = 60
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request: ``(status, response headers, raw body)``; an error status is returned, not raised.

    Args:
        method: "GET", "POST", ...
        url: the full URL, query string included.
        body: bytes sent as they are, anything else as JSON; None sends no body (an empty one for POST).
        headers: added to (and overriding) ``Content-Type: application/json``.
        timeout: seconds to connect and, separately, to wait for the answer.

    Raises:
        requests.ConnectionError, requests.Timeout: nothing answered.
    """
    response = requests.request(
        method, url, data=_encode(method, body), headers={**JSON_HEADERS, **(headers or {})}, timeout=timeout
    )
    return response.status_code, dict(response.headers), response.content


def json_request(
    method: str, url: str, body: Any = None, *, headers: dict[str, str] | None = None, timeout: float = 60
) -> tuple[int, str, Any]:
    """:func:`request` returning ``(status, body as text, decoded JSON or None when the body is not JSON)``."""
    status, _, raw = request(method, url, body, headers=headers, timeout=timeout)
    text = raw.decode("utf-8", errors="replace")
    try:
        return status, text, json.loads(text)
    except ValueError:
        return status, text, None


def ok(url: str, timeout: float = 2) -> bool:
    """True when a GET of ``url`` answers 200; False for any other status or when nothing answers."""
    try:
        return requests.get(url, timeout=timeout).status_code == 200
    except requests.RequestException:
        return False


def get_json(url: str, timeout: float = 5) -> Any:
    """GET ``url`` and decode its JSON body.

    Raises:
        requests.HTTPError: status 400 or more. requests.ConnectionError, requests.Timeout: nothing answered.
        ValueError: the body is not JSON.
    """
    response = requests.get(url, timeout=timeout)
    response.raise_for_status()
    return response.json()


def post_json(url: str, body: Any, timeout: float = 60) -> Any:
    """POST ``body`` as JSON to ``url`` and decode the JSON answer.

    Raises:
        requests.HTTPError: status 400 or more. requests.ConnectionError, requests.Timeout: nothing answered.
        ValueError: the answer is not JSON.
    """
    response = requests.post(url, data=_encode("POST", body), headers=JSON_HEADERS, timeout=timeout)
    response.raise_for_status()
    return response.json()
