"""Serving a screen's own files: one Sanic ``Blueprint.static`` route per file, never a folder.

Shared by the trainers' workbench (:mod:`bot.agent_api.trainer_ui`) and the agents' console
(:mod:`bot.agent_api.console_ui`): only the files listed are reachable (nothing else in the folder
or beside it), and every page, script and style sheet is sent ``no-cache`` and ``nosniff`` so a
browser never runs yesterday's script against today's API.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse


def files_blueprint(name: str, folder: Path, files: Mapping[str, tuple[str, str]]) -> Blueprint:
    """A blueprint serving ``files``.

    Args:
        name: The blueprint's name (unique per Sanic app); route names are ``<name>_<file>``.
        folder: Where the files are.
        files: File name -> (the path it answers under the channel's prefix, its content type).
    """
    ui = Blueprint(name, __name__)
    for file, (path, content_type) in files.items():
        ui.static(
            path,
            folder / file,
            name=f"{name}_{file.replace('.', '_')}",
            content_type=content_type,
            resource_type="file",
        )

    @ui.on_response
    async def no_stale_pages(request: Request, reply: HTTPResponse) -> None:
        if request.method == "GET" and reply.status == 200:
            reply.headers.setdefault("Cache-Control", "no-cache")
            reply.headers.setdefault("X-Content-Type-Options", "nosniff")

    return ui
