"""The baseline: the cheapest FastAPI endpoint, served with the real server's uvicorn settings.

Its throughput is the ceiling of this stack on this machine, so a scenario's ratio to it says
how much the service itself costs, independent of how fast the machine is.
"""

from __future__ import annotations

from fastapi import FastAPI

app = FastAPI()


@app.get("/hello")
async def hello() -> dict[str, str]:
    return {"hello": "world"}
