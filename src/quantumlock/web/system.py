"""Unauthenticated operational routes: /health (`router`) and /metrics (`metrics_router`,
included unless QL_METRICS_ENABLED is off)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from quantumlock import __version__
from quantumlock.keyring.canary import check_canary, mismatch_message
from quantumlock.runtime import Runtime
from quantumlock.web.security import get_runtime

router = APIRouter(tags=["system"])
metrics_router = APIRouter(tags=["system"])


class Readiness(BaseModel):
    """The readiness body, 200 and 503 alike (documents the JSON `health` writes)."""

    status: Literal["ok", "degraded", "unavailable"]
    version: str
    database: Literal["ok", "unreachable"]
    master_key: Literal["ok", "no canary", "wrong key", "unchecked"]
    redis: Literal["ok", "unreachable", "not configured"]
    detail: str | None = Field(
        default=None, description="Only with a wrong master key: what to check"
    )


class Liveness(BaseModel):
    status: Literal["ok"]
    version: str


_READY = "Readiness: dependencies checked (no auth)"
_NOT_READY: dict[int | str, dict[str, object]] = {
    503: {"model": Readiness, "description": "This node cannot serve"}
}


def _database_ok(runtime: Runtime) -> bool:
    try:
        with runtime.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception:
        return False
    return True


def _master_key(runtime: Runtime) -> str:
    """Whether this node's master key opens the database's canary (quantumlock.keyring.canary):
    a wrong key can serve nothing sealed, so the node is not ready."""
    try:
        opens = check_canary(runtime.engine, runtime.sealer)
    except Exception:  # the database check reports an unreachable database
        return "unchecked"
    if opens is None:
        return "no canary"  # a database from before the canary; `serve`/`init` seal one
    return "ok" if opens else "wrong key"


def _checks(runtime: Runtime) -> tuple[bool, str]:
    db_ok = _database_ok(runtime)
    return db_ok, _master_key(runtime) if db_ok else "unchecked"


@router.get("/health", response_model=Readiness, summary=_READY, responses=_NOT_READY)
@router.get("/health/ready", response_model=Readiness, summary=_READY, responses=_NOT_READY)
async def health(request: Request) -> JSONResponse:
    """200 while this node can serve: the database answers and the master key opens its
    canary. Redis is reported, not required: without it rate limits fail open and the node
    keeps serving ("degraded")."""
    runtime = get_runtime(request)
    db_ok, master_key = await run_in_threadpool(_checks, runtime)
    answers = await runtime.limiter.ping()
    redis = "not configured" if answers is None else "ok" if answers else "unreachable"
    ready = db_ok and master_key != "wrong key"
    status = "ok" if ready and redis != "unreachable" else "degraded" if ready else "unavailable"
    body = {
        "status": status,
        "version": __version__,
        "database": "ok" if db_ok else "unreachable",
        "master_key": master_key,
        "redis": redis,
    }
    if master_key == "wrong key":
        # No path here (the route needs no auth): where the key came from, by name.
        env = runtime.settings.master_key is not None
        body["detail"] = mismatch_message("QL_MASTER_KEY" if env else "the master key file")
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get(
    "/health/live", response_model=Liveness, summary="Liveness: the process answers (no auth)"
)
async def live() -> JSONResponse:
    """200 while the process answers; checks nothing else (see `/health/ready`)."""
    return JSONResponse({"status": "ok", "version": __version__})


@metrics_router.get("/metrics", summary="Prometheus metrics (no auth)", include_in_schema=False)
async def metrics(request: Request) -> Response:
    runtime = get_runtime(request)
    # In a worker thread: some families are read from the database at scrape time
    # (quantumlock.licensing.quota_metrics).
    body = await run_in_threadpool(generate_latest, runtime.metrics.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
