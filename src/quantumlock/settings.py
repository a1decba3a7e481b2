"""Runtime configuration, read from the environment (prefix ``QL_``)."""

from __future__ import annotations

import base64
import binascii
from functools import cached_property
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MASTER_KEY_FILE = "master.key"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QL_", extra="ignore", frozen=True)

    data_dir: Path = Path(".quantumlock")
    database_url: str | None = None
    redis_url: str | None = None
    # Every Redis key this deployment uses starts with this (several deployments, or test
    # runs, can share one Redis).
    redis_prefix: str = "ql:"
    # Peers whose X-Forwarded-For is believed (comma list of addresses/CIDRs, or "*"):
    # set it to the load balancer's address when nodes sit behind one.
    forwarded_allow_ips: str = "127.0.0.1"
    master_key: SecretStr | None = None
    log_level: str = "INFO"
    metrics_enabled: bool = True
    # One JSON line per request (request id, key id, account id, route, status, latency).
    access_log: bool = True
    # FastAPI's native OpenTelemetry instrumentation (needs an OpenTelemetry SDK configured).
    otel: bool = False
    entropy_sources: str = "qcos_api,qiskit_local,cryptographic"
    qcos_api_url: str | None = None
    qcos_api_key: SecretStr | None = None

    # Database connections per process, and as many worker threads for blocking work.
    db_pool_size: int = Field(default=10, ge=1, le=200)
    # Request bodies above this are refused with 413 before they are read in full.
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    # Failed authentications per client address: a brute-force guard, not a quota.
    auth_failures_per_minute: int = Field(default=30, ge=1)
    auth_failures_burst: int = Field(default=30, ge=1)
    # How often a node looks for changes made by other processes (CLI, other nodes).
    change_poll_interval: float = Field(default=0.25, gt=0, le=5)
    # Safety net for the in-memory key cache, on top of change notifications.
    key_cache_ttl: float = Field(default=30.0, gt=0)
    # Seconds a license row stays in the validation cache (0 disables it).
    validation_cache_ttl: float = Field(default=2.0, ge=0, le=60)
    # last_used_at is kept in memory and written in batches at this interval.
    last_used_flush_interval: float = Field(default=5.0, gt=0)

    @field_validator("log_level")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'quantumlock.db').resolve()}"

    @property
    def master_key_path(self) -> Path:
        return self.data_dir / MASTER_KEY_FILE

    def load_master_key(self) -> bytes:
        """The 32-byte master key from QL_MASTER_KEY or the data dir's key file."""
        if self.master_key is not None:
            raw = self.master_key.get_secret_value().strip()
            source = "QL_MASTER_KEY"
        elif self.master_key_path.exists():
            raw = self.master_key_path.read_text().strip()
            source = str(self.master_key_path)
        else:
            raise MasterKeyError(
                f"No master key: set QL_MASTER_KEY or run `quantumlock init` "
                f"(expected {self.master_key_path})."
            )
        try:
            key = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise MasterKeyError(f"Master key in {source} is not valid base64.") from None
        if len(key) != 32:
            raise MasterKeyError(f"Master key in {source} must decode to 32 bytes.")
        return key


class MasterKeyError(RuntimeError):
    pass
