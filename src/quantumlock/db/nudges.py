"""Redis pub/sub nudges for the change feed (`quantumlock.db.changes`).

A writer whose transaction recorded a change publishes a nudge after the commit; every
node listening polls the feed at once instead of at its next tick. Its own module so that
a node without Redis never imports the client.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import redis
import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError
from sqlalchemy.orm import Session, sessionmaker

from quantumlock.db.changes import on_committed_changes

log = structlog.get_logger(__name__)


class ChangeNudges:
    """Redis pub/sub nudges: published after a commit that recorded changes, heard by nodes."""

    def __init__(self, url: str, prefix: str, on_error: Callable[[], None] | None = None) -> None:
        self.url = url
        self.channel = prefix + "changes"
        self._on_error = on_error
        self._publisher = redis.Redis.from_url(
            url, socket_timeout=0.25, socket_connect_timeout=0.25
        )

    def install(self, sessions: sessionmaker[Session]) -> None:
        """Publish a nudge after every commit of `sessions` that recorded a change (where
        no change feed runs: a CLI command; a server's feed publishes its own)."""
        on_committed_changes(sessions, lambda _changes: self.publish())

    def publish(self) -> None:
        try:
            self._publisher.publish(self.channel, b"1")
        except (RedisError, OSError):
            # The change is in the database; nodes pick it up at their next poll.
            if self._on_error is not None:
                self._on_error()
            log.warning("change_nudge_publish_failed", exc_info=False)

    async def listen(self, wake: asyncio.Event) -> None:
        """Set `wake` on every nudge; reconnects (with back-off) for as long as it runs."""
        delay = 0.5
        while True:
            client = aioredis.Redis.from_url(self.url, socket_connect_timeout=1)
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(self.channel)
                    delay = 0.5
                    wake.set()  # changes made while we were not listening
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            wake.set()
            except asyncio.CancelledError:
                raise
            except Exception:
                if self._on_error is not None:
                    self._on_error()
                log.warning("change_nudge_listen_failed", retry_in_s=delay, exc_info=False)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10)
            finally:
                await client.aclose()

    def close(self) -> None:
        self._publisher.close()
