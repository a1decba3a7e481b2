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


@router.get("/health", summary="Service health (no auth)")
async def health(request: Request) -> JSONResponse:
    runtime = get_runtime(request)
    db_ok = await run_in_threadpool(_database_ok, runtime)
    body = {
        "status": "ok" if db_ok else "degraded",
        "version": __version__,
        "database": "ok" if db_ok else "unreachable",
    }
    return JSONResponse(body, status_code=200 if db_ok else 503)


@router.get("/metrics", summary="Prometheus metrics (no auth)", include_in_schema=False)
async def metrics(request: Request) -> Response:
    runtime = get_runtime(request)
    return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)
