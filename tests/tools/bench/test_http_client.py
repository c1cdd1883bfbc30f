"""tools/http_client.py against a real local HTTP server (the standard library's, in a thread)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

import pytest
import requests

from tools import http_client
from tools.devstack import free_port


class Echo(BaseHTTPRequestHandler):
    """GET /status -> 200 JSON; GET /missing -> 404 text; POST -> the request echoed as JSON (status 503 for /fail)."""

    def do_GET(self) -> None:  # noqa: N802 - the standard library's name
        if self.path.startswith("/status"):
            self._send(200, json.dumps({"model_file": "m.tar.gz", "path": self.path}).encode(), "application/json")
        else:
            self._send(404, "没有".encode(), "text/plain; charset=utf-8")

    def do_POST(self) -> None:  # noqa: N802
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        echoed = {"path": self.path, "content_type": self.headers.get("Content-Type"), "body": raw.decode()}
        self._send(
            503 if self.path == "/fail" else 200, json.dumps(echoed, ensure_ascii=False).encode(), "application/json"
        )

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_request_returns_error_statuses_instead_of_raising(base: str) -> None:
    status, headers, raw = http_client.request("GET", f"{base}/missing")
    assert status == 404
    assert headers["content-type"].startswith("text/plain")  # the server's spelling of the name is kept
    assert raw.decode() == "没有"


def test_request_sends_json_by_default_and_bytes_as_they_are(base: str) -> None:
    _, _, raw = http_client.request("POST", f"{base}/a", {"message": "你好"})
    assert json.loads(raw) == {"path": "/a", "content_type": "application/json", "body": '{"message": "你好"}'}
    _, _, raw = http_client.request("POST", f"{base}/b", b"x=1", headers={"Content-Type": "text/plain"})
    assert json.loads(raw)["body"] == "x=1" and json.loads(raw)["content_type"] == "text/plain"
    _, _, raw = http_client.request("POST", f"{base}/c")  # no body: an empty one for POST
    assert json.loads(raw)["body"] == ""


def test_json_request_decodes_or_gives_none(base: str) -> None:
    status, text, parsed = http_client.json_request("GET", f"{base}/status?token=t")
    assert status == 200 and parsed == {"model_file": "m.tar.gz", "path": "/status?token=t"}
    assert json.loads(text) == parsed
    status, text, parsed = http_client.json_request("GET", f"{base}/missing")
    assert (status, text, parsed) == (404, "没有", None)


def test_ok_is_true_only_for_200(base: str) -> None:
    assert http_client.ok(f"{base}/status")
    assert not http_client.ok(f"{base}/missing")
    assert not http_client.ok(f"http://127.0.0.1:{free_port()}/status", timeout=0.5)  # nothing listens


def test_get_and_post_json_raise_on_error_statuses(base: str) -> None:
    assert http_client.get_json(f"{base}/status")["model_file"] == "m.tar.gz"
    assert http_client.post_json(f"{base}/p", {"sender": "s"})["body"] == '{"sender": "s"}'
    with pytest.raises(requests.HTTPError):
        http_client.get_json(f"{base}/missing")
    with pytest.raises(requests.HTTPError):
        http_client.post_json(f"{base}/fail", {"sender": "s"})
    assert http_client.request("POST", f"{base}/fail")[0] == 503  # request() returns it instead
