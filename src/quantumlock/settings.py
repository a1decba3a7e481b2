"""Runtime configuration, read from the environment (prefix ``QL_``).

Pure data: it imports no domain. The objects built from it (keyring, sealer, API-key
hasher) are made in quantumlock.bootstrap.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

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
    # One base64 key, or a comma list (first current) during a master-key rotation.
    master_key: SecretStr | None = None
    # With QL_MASTER_KEY after a rotation: the API-key pepper (`quantumlock master-key status`
    # prints it), since the first master key it came from is no longer listed.
    api_key_pepper: SecretStr | None = None
    log_level: str = "INFO"
    # auto: the console renderer when stdout is a terminal, JSON lines otherwise.
    log_format: Literal["auto", "json", "console"] = "auto"
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
    # Seconds an opened symmetric keystore key stays in memory for encrypt/decrypt
    # (0 disables it: every call reads and unseals the key).
    key_material_cache_ttl: float = Field(default=30.0, ge=0, le=3600)
    # last_used_at is kept in memory and written in batches at this interval.
    last_used_flush_interval: float = Field(default=5.0, gt=0)
    # Serve the hottest routes (validate, entropy, encrypt, decrypt) straight from the ASGI
    # middleware instead of FastAPI's routing and dependency machinery: same code, same
    # answers, much less CPU per request (quantumlock.web.fastpath). False: all via FastAPI.
    fast_paths: bool = True

    # -- added for issue #19 (identity: users; QL_ISSUER, the public base URL, comes with
    # the OAuth provider) --
    # A sign-in session ends after this many seconds without a request, and in any case
    # this many seconds after sign-in.
    session_idle_timeout: int = Field(default=12 * 3600, ge=60)
    session_max_age: int = Field(default=7 * 86400, ge=60)
    # Sign-in attempts (POST /login) per client address: a brute-force guard on top of the
    # per-user lock-out.
    login_attempts_per_minute: int = Field(default=10, ge=1)
    login_attempts_burst: int = Field(default=20, ge=1)

    # -- added for issue #16 (crypto / entropy) --
    # The Ed25519 public key (PEM, or base64 of its 32 raw bytes) that signs the QCOS remote's
    # entropy responses; with an https QL_QCOS_API_URL, only signed claims of hardware count.
    qcos_api_signing_key: str | None = None
    # Operator attestation: believe the QCOS remote's quantum claims without a signature.
    qcos_api_trust_claims: bool = False
    # Processes (per server process, started on first use, at nice 19) that generate RSA
    # keys; 0 generates in the request's worker thread.
    keygen_workers: int = Field(default=1, ge=0, le=64)
    # RSA generations (`/quantum/rsa`, `crypto/sign` without key_id) one account may have in
    # flight at once in one server process; past it 429 with Retry-After.
    expensive_calls_per_account: int = Field(default=2, ge=1, le=1000)

    # -- added for issue #19 (OAuth 2.0 / OpenID Connect provider) --
    # The provider's issuer URL (`iss` of every token, the discovery documents' base): set it
    # in production (https://auth.example.com). Unset: each request's own base URL.
    issuer: str | None = None
    # /oauth/token requests per minute (and burst) per client id and per client address.
    oauth_token_per_minute: int = Field(default=120, ge=1)
    oauth_token_burst: int = Field(default=60, ge=1)

    # -- added for issue #21 (portal: "forgot your password" by mail) --
    # Without QL_SMTP_HOST (or without QL_ISSUER, the address the mailed link points to) the
    # portal's "forgot your password" page explains who can hand over a link instead.
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "QuantumLock <no-reply@localhost>"
    # STARTTLS after connecting (587); False for a local relay without TLS.
    smtp_starttls: bool = True
    # Seconds for the connection and each SMTP command (the mail is sent after the answer).
    smtp_timeout: float = Field(default=10.0, gt=0, le=120)
    # "Forgot your password" requests per client address and per email address.
    password_reset_per_minute: int = Field(default=1, ge=1)
    password_reset_burst: int = Field(default=3, ge=1)

    @field_validator("issuer")
    @classmethod
    def _issuer(cls, value: str | None) -> str | None:
        return value.rstrip("/") or None if value else None

    @field_validator("log_level")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'quantumlock.db').resolve()}"

    @property
    def master_key_path(self) -> Path:
        return self.data_dir / MASTER_KEY_FILE

    @property
    def master_key_source(self) -> str:
        """Where the master key comes from, for messages (never the key itself)."""
        return "QL_MASTER_KEY" if self.master_key is not None else str(self.master_key_path)
