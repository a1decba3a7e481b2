"""Unauthenticated operational routes: /health and /metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from quantumlock import __version__
from quantumlock.runtime import Runtime
from quantumlock.web.security import get_runtime

router = APIRouter(tags=["system"])


def _database_ok(runtime: Runtime) -> bool:
    try:
        with runtime.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception:
        return False
    return True


@router.get("/health", summary="Readiness: dependencies checked (no auth)")
@router.get("/health/ready", summary="Readiness: dependencies checked (no auth)")
async def health(request: Request) -> JSONResponse:
    """200 while this node can serve: the database answers. Redis is reported, not
    required: without it rate limits fail open and the node keeps serving ("degraded")."""
    runtime = get_runtime(request)
    db_ok = await run_in_threadpool(_database_ok, runtime)
    answers = await runtime.limiter.ping()
    redis = "not configured" if answers is None else "ok" if answers else "unreachable"
    status = "ok" if db_ok and redis != "unreachable" else "degraded" if db_ok else "unavailable"
    body = {
        "status": status,
        "version": __version__,
        "database": "ok" if db_ok else "unreachable",
        "redis": redis,
    }
    return JSONResponse(body, status_code=200 if db_ok else 503)


@router.get("/health/live", summary="Liveness: the process answers (no auth)")
async def live() -> JSONResponse:
    return JSONResponse({"status": "ok", "version": __version__})


@router.get("/metrics", summary="Prometheus metrics (no auth)", include_in_schema=False)
async def metrics(request: Request) -> Response:
    runtime = get_runtime(request)
    return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)
