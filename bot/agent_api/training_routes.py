"""The trainers' model routes (issue 11): train in the background, compare, activate, roll back.

``POST /api/trainer/train`` ``{"trainer", "mode": "finetune"|"full"}`` → 202 with the job (409
while another runs); ``GET /api/trainer/train`` (newest first) and ``GET /api/trainer/train/{job}``
(progress, then the comparison with the live model); ``POST /api/trainer/train/{job}/activate``
and ``/discard`` ``{"trainer"}``; ``GET /api/trainer/models`` (the live model, who made it live,
the history, and what this worker serves); ``POST /api/trainer/models/rollback`` ``{"trainer"}``.

Jobs run as their own processes (:mod:`bot.training.jobs`); activation writes
``models/active.json`` (:mod:`bot.training.models`) and loads the model in this worker at once,
other workers within seconds (:mod:`bot.agent_api.live_model`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.agent_api import live_model
from bot.agent_api.http import ApiError, body_of, required_text
from bot.agent_api.trainer_routes import workspace
from bot.training import jobs, models

Route = Callable[..., Callable[[Callable[..., Awaitable[HTTPResponse]]], Any]]

MODES = ("finetune", "full")


def _record_served(request: Request) -> None:
    """Before the first training or activation, the model the server runs becomes the pointer's
    live model, so a job fine-tunes from and compares with it (not a guess from file dates) and
    the first activation can be rolled back to it."""
    ws = workspace(request)
    if models.active(ws) is not None:
        return
    path = getattr(getattr(request.app.ctx.agent, "processor", None), "model_path", None)
    if path is not None and Path(path).is_file():
        models.activate(ws, Path(path), trainer="(served when the workbench was first used)")


def _job(request: Request, job_id: str) -> dict[str, Any]:
    try:
        return jobs.read(workspace(request), job_id)
    except jobs.JobNotFound:
        raise ApiError(404, f"no training job {job_id}")


def _trainer(request: Request) -> str:
    return required_text(body_of(request), "trainer", limit=64)


async def _serve(request: Request, model: Path) -> None:
    """Loads ``model`` in this worker (the others follow ``models/active.json``).

    Raises:
        ApiError: 409 when the model cannot be loaded (this worker keeps the model it had).
    """
    if model.name == live_model.loaded_model(request.app):
        return
    try:
        await live_model.load(request.app, model)
    except Exception as error:  # noqa: BLE001 - a broken archive is the trainer's answer, not a 500
        raise ApiError(409, f"the model {model.name} could not be loaded: {type(error).__name__}")


def register(route: Route) -> None:
    """Adds the model routes through the agents' API ``route`` decorator (token, errors)."""

    @route("/trainer/train", methods=("POST",))
    async def start_training(request: Request) -> HTTPResponse:
        data = body_of(request)
        trainer = required_text(data, "trainer", limit=64)
        mode = data.get("mode") or "finetune"
        if mode not in MODES:
            raise ApiError(422, f"'mode' must be one of {', '.join(MODES)}")
        _record_served(request)
        try:
            job = jobs.start(workspace(request), trainer=trainer, mode=mode)
        except jobs.JobRunning as error:
            raise ApiError(409, "another training job is running; wait for it to finish", job=error.job)
        except ValueError as error:
            raise ApiError(422, str(error))
        return response.json(job, status=202)

    @route("/trainer/train")
    async def list_training(request: Request) -> HTTPResponse:
        return response.json({"jobs": jobs.list_jobs(workspace(request))})

    @route("/trainer/train/<job_id>")
    async def training_job(request: Request, job_id: str) -> HTTPResponse:
        return response.json(_job(request, job_id))

    @route("/trainer/train/<job_id>/activate", methods=("POST",))
    async def activate(request: Request, job_id: str) -> HTTPResponse:
        trainer = _trainer(request)
        ws = workspace(request)
        job = _job(request, job_id)
        if job.get("status") != "ready" or not job.get("model"):
            raise ApiError(409, f"job {job_id} is {job.get('status')}; only a ready model can go live")
        model = Path(job["model"]) if Path(job["model"]).is_absolute() else ws.root / job["model"]
        if not model.is_file():
            raise ApiError(409, f"the model file of job {job_id} is gone")
        _record_served(request)  # the model served now is what a rollback goes back to
        await _serve(request, model)  # a model that does not load never becomes the pointer
        result = models.activate(ws, model, trainer=trainer, job=job_id)
        try:
            jobs.mark_activated(ws, job_id, trainer)
        except jobs.JobStateError as error:
            raise ApiError(409, str(error))
        return response.json({**result, "loaded": live_model.loaded_model(request.app)})

    @route("/trainer/train/<job_id>/discard", methods=("POST",))
    async def discard(request: Request, job_id: str) -> HTTPResponse:
        trainer = _trainer(request)
        ws = workspace(request)
        _job(request, job_id)
        try:
            return response.json(jobs.discard(ws, job_id, trainer))
        except jobs.JobStateError as error:
            raise ApiError(409, str(error))

    @route("/trainer/models")
    async def model_state(request: Request) -> HTTPResponse:
        pointer = models.active(workspace(request)) or {}
        return response.json(
            {
                "active": {k: v for k, v in pointer.items() if k != "history"} or None,
                "history": list(pointer.get("history") or []),
                "loaded": live_model.loaded_model(request.app),
            }
        )

    @route("/trainer/models/rollback", methods=("POST",))
    async def rollback(request: Request) -> HTTPResponse:
        trainer = _trainer(request)
        ws = workspace(request)
        history = (models.active(ws) or {}).get("history") or []
        if history and models.model_file(ws, history[0]).is_file():
            await _serve(
                request, models.model_file(ws, history[0])
            )  # load first: the pointer follows a model that works
        try:
            result = models.rollback(ws, trainer=trainer)
        except models.NothingToRollBack as error:
            raise ApiError(409, str(error))
        return response.json({**result, "loaded": live_model.loaded_model(request.app)})
