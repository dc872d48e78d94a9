"""Every knob of the service, read from the environment. Nothing else reads os.environ."""

from __future__ import annotations

import json
import os
import re
from functools import lru_cache
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./loyalty.db"

# Development defaults. They let `loyalty serve` run with nothing configured; production refuses
# every one of them (see `production_problems`).
DEV_JWT_KEYS = {"dev-1": "dev-only-jwt-secret-change-me-0123456789abcdef"}
DEV_MEMBER_CODE_SECRET = "dev-only-member-code-secret-change-me-0123456789"

_CURRENCY = re.compile(r"[A-Z]{3}")


class ConfigurationError(Exception):
    """A setting that makes the service unsafe or unable to start; the message is one line."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    env: Literal["development", "production"] = Field("development", alias="LOYALTY_ENV")
    database_url: str = Field(DEFAULT_DATABASE_URL, alias="DATABASE_URL")
    public_base_url: str = Field("http://127.0.0.1:8000", alias="PUBLIC_BASE_URL")
    currency: str = Field("USD", alias="LOYALTY_CURRENCY")
    program_name: str = Field("Loyalty", alias="LOYALTY_PROGRAM_NAME")

    # JWT access tokens: HS256, signed with the active key, verified with any key in the map, so
    # a key can be rotated by adding the new one, making it active, and removing the old one
    # after `access_token_ttl_seconds`.
    jwt_keys: Annotated[dict[str, SecretStr], NoDecode] = Field(
        default_factory=lambda: {k: SecretStr(v) for k, v in DEV_JWT_KEYS.items()},
        alias="LOYALTY_JWT_KEYS",
    )
    jwt_active_kid: str = Field("dev-1", alias="LOYALTY_JWT_ACTIVE_KID")
    jwt_issuer: str = Field("loyalty", alias="LOYALTY_JWT_ISSUER")
    jwt_audience: str = Field("loyalty-api", alias="LOYALTY_JWT_AUDIENCE")
    access_token_ttl_seconds: int = Field(900, alias="LOYALTY_ACCESS_TOKEN_TTL", ge=60, le=86400)
    refresh_token_ttl_days: int = Field(30, alias="LOYALTY_REFRESH_TOKEN_TTL_DAYS", ge=1, le=365)

    member_code_secret: SecretStr = Field(
        SecretStr(DEV_MEMBER_CODE_SECRET), alias="LOYALTY_MEMBER_CODE_SECRET"
    )

    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, alias="LOYALTY_CORS_ORIGINS"
    )

    # Argon2id cost. The defaults are the argon2-cffi recommendations; tests lower them.
    argon2_time_cost: int = Field(3, alias="LOYALTY_ARGON2_TIME_COST", ge=1)
    argon2_memory_kib: int = Field(65536, alias="LOYALTY_ARGON2_MEMORY_KIB", ge=8)

    login_max_failures: int = Field(10, alias="LOYALTY_LOGIN_MAX_FAILURES", ge=1)
    login_window_seconds: int = Field(900, alias="LOYALTY_LOGIN_WINDOW_SECONDS", ge=1)

    graphql_max_depth: int = Field(10, alias="LOYALTY_GRAPHQL_MAX_DEPTH", ge=2)
    graphql_max_tokens: int = Field(2000, alias="LOYALTY_GRAPHQL_MAX_TOKENS", ge=100)
    graphql_max_aliases: int = Field(15, alias="LOYALTY_GRAPHQL_MAX_ALIASES", ge=1)
    max_body_bytes: int = Field(1024 * 1024, alias="LOYALTY_MAX_BODY_BYTES", ge=1024)

    db_pool_size: int = Field(10, alias="LOYALTY_DB_POOL_SIZE", ge=1)
    db_max_overflow: int = Field(10, alias="LOYALTY_DB_MAX_OVERFLOW", ge=0)
    sqlite_busy_timeout_ms: int = Field(30000, alias="LOYALTY_SQLITE_BUSY_TIMEOUT_MS", ge=0)

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        "INFO", alias="LOYALTY_LOG_LEVEL"
    )

    # The outbox worker: a delivery is retried with exponential backoff and full jitter
    # (random between 0 and min(max, base * 2^attempt)) until `outbox_max_attempts`, then DEAD.
    # A claimed delivery is leased for `outbox_lease_seconds`: a worker killed mid-delivery
    # gives it back when the lease runs out, so the lease must outlast the slowest attempt.
    outbox_max_attempts: int = Field(12, alias="LOYALTY_OUTBOX_MAX_ATTEMPTS", ge=1, le=100)
    outbox_backoff_base_seconds: float = Field(2.0, alias="LOYALTY_OUTBOX_BACKOFF_BASE", gt=0)
    outbox_backoff_max_seconds: float = Field(3600.0, alias="LOYALTY_OUTBOX_BACKOFF_MAX", gt=0)
    outbox_lease_seconds: float = Field(60.0, alias="LOYALTY_OUTBOX_LEASE_SECONDS", gt=0)
    outbox_poll_seconds: float = Field(1.0, alias="LOYALTY_OUTBOX_POLL_SECONDS", gt=0)
    outbox_batch_size: int = Field(100, alias="LOYALTY_OUTBOX_BATCH_SIZE", ge=1, le=1000)
    outbox_concurrency: int = Field(20, alias="LOYALTY_OUTBOX_CONCURRENCY", ge=1, le=500)
    # Webhooks: the time one delivery may take, and whether production may call loopback,
    # private or link-local addresses (development always may).
    webhook_timeout_seconds: float = Field(10.0, alias="LOYALTY_WEBHOOK_TIMEOUT_SECONDS", gt=0)
    webhook_allow_private: bool = Field(False, alias="LOYALTY_WEBHOOK_ALLOW_PRIVATE")

    # App push. A provider whose settings are missing is not used (the worker logs it once).
    # APNs token authentication: the `.p8` key Apple gives, its key id, the team id; the topic
    # is the app's bundle id. APNS_CA_FILE trusts another CA for APNS_BASE_URL (a TLS-inspecting
    # proxy, a test server); empty means the system's.
    apns_base_url: str = Field("https://api.push.apple.com", alias="APNS_BASE_URL")
    apns_key_file: str | None = Field(None, alias="APNS_KEY_FILE")
    apns_key_id: str | None = Field(None, alias="APNS_KEY_ID")
    apns_team_id: str | None = Field(None, alias="APNS_TEAM_ID")
    apns_topic: str | None = Field(None, alias="APNS_TOPIC")
    apns_ca_file: str | None = Field(None, alias="APNS_CA_FILE")
    # FCM HTTP v1: the service account's JSON key file (project_id, client_email, private_key,
    # token_uri) from the Firebase console.
    fcm_base_url: str = Field("https://fcm.googleapis.com", alias="FCM_BASE_URL")
    fcm_service_account_file: str | None = Field(None, alias="FCM_SERVICE_ACCOUNT_FILE")

    # Apple Wallet passes: the pass type id and team id of the Apple developer account, the pass
    # type certificate and its private key (PEM files; the key may be encrypted), and Apple's WWDR
    # intermediate certificate (PEM or DER). Production needs all of them; in development, without
    # them, a self-signed development identity is made once (kept in the database) and used, so
    # every pass is complete (Wallet itself will not install it). Pass updates are pushed to
    # APPLE_PASS_PUSH_URL (always Apple's production APNs) over HTTP/2 with the pass certificate.
    apple_pass_type_id: str | None = Field(None, alias="APPLE_PASS_TYPE_ID")
    apple_team_id: str | None = Field(None, alias="APPLE_TEAM_ID")
    apple_pass_cert: str | None = Field(None, alias="APPLE_PASS_CERT")
    apple_pass_key: str | None = Field(None, alias="APPLE_PASS_KEY")
    apple_pass_key_password: SecretStr | None = Field(None, alias="APPLE_PASS_KEY_PASSWORD")
    apple_wwdr_cert: str | None = Field(None, alias="APPLE_WWDR_CERT")
    apple_pass_push_url: str = Field("https://api.push.apple.com", alias="APPLE_PASS_PUSH_URL")
    # Google Wallet: the issuer id and the service account's JSON key file; unset, no Google
    # link is offered. The REST base URL is a setting so tests can point it at a fake.
    google_wallet_issuer_id: str | None = Field(None, alias="GOOGLE_WALLET_ISSUER_ID")
    google_wallet_service_account_file: str | None = Field(
        None, alias="GOOGLE_WALLET_SERVICE_ACCOUNT_FILE"
    )
    google_wallet_base_url: str = Field(
        "https://walletobjects.googleapis.com", alias="GOOGLE_WALLET_BASE_URL"
    )
    google_wallet_class_suffix: str = Field("loyalty", alias="GOOGLE_WALLET_CLASS_SUFFIX")

    @field_validator("jwt_keys", mode="before")
    @classmethod
    def _parse_jwt_keys(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError('must be a JSON object {"<kid>": "<secret>", ...}') from exc
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _parse_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("currency")
    @classmethod
    def _check_currency(cls, value: str) -> str:
        if not _CURRENCY.fullmatch(value):
            raise ValueError("must be an ISO 4217 code of three capital letters, e.g. USD")
        return value

    @field_validator(
        "public_base_url",
        "apns_base_url",
        "fcm_base_url",
        "apple_pass_push_url",
        "google_wallet_base_url",
    )
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @model_validator(mode="after")
    def _check_outbox_lease(self) -> Settings:
        if self.outbox_lease_seconds <= self.webhook_timeout_seconds:
            raise ValueError(
                "LOYALTY_OUTBOX_LEASE_SECONDS must be longer than LOYALTY_WEBHOOK_TIMEOUT_SECONDS"
            )
        return self

    @model_validator(mode="after")
    def _check_active_key(self) -> Settings:
        if self.jwt_active_kid not in self.jwt_keys:
            raise ValueError(
                f"LOYALTY_JWT_ACTIVE_KID {self.jwt_active_kid!r} is not a key of LOYALTY_JWT_KEYS"
            )
        return self

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def webhook_refuses_private(self) -> bool:
        return self.is_production and not self.webhook_allow_private

    def production_problems(self) -> list[str]:
        """Why this configuration must not serve production, one line each (empty when fine)."""
        problems: list[str] = []
        for kid, secret in self.jwt_keys.items():
            if secret.get_secret_value() in DEV_JWT_KEYS.values():
                problems.append(f"LOYALTY_JWT_KEYS[{kid!r}] is the development default secret")
            elif len(secret.get_secret_value()) < 32:
                problems.append(f"LOYALTY_JWT_KEYS[{kid!r}] is shorter than 32 characters")
        code_secret = self.member_code_secret.get_secret_value()
        if code_secret == DEV_MEMBER_CODE_SECRET:
            problems.append("LOYALTY_MEMBER_CODE_SECRET is the development default secret")
        elif len(code_secret) < 32:
            problems.append("LOYALTY_MEMBER_CODE_SECRET is shorter than 32 characters")
        if self.database_url == DEFAULT_DATABASE_URL:
            problems.append(
                "DATABASE_URL is the embedded development default (production needs PostgreSQL)"
            )
        if not self.public_base_url.startswith("https://"):
            problems.append("PUBLIC_BASE_URL must be an https:// address in production")
        providers = (("APNS_BASE_URL", self.apns_base_url), ("FCM_BASE_URL", self.fcm_base_url))
        for name, url in providers:
            if not url.startswith("https://"):
                problems.append(f"{name} must be an https:// address in production")
        apple = (
            ("APPLE_PASS_TYPE_ID", self.apple_pass_type_id),
            ("APPLE_TEAM_ID", self.apple_team_id),
            ("APPLE_PASS_CERT", self.apple_pass_cert),
            ("APPLE_PASS_KEY", self.apple_pass_key),
            ("APPLE_WWDR_CERT", self.apple_wwdr_cert),
        )
        for name, value in apple:
            if not value:
                problems.append(f"{name} is not set (Apple Wallet passes need it)")
        if not self.apple_pass_push_url.startswith("https://"):
            problems.append("APPLE_PASS_PUSH_URL must be an https:// address in production")
        if bool(self.google_wallet_issuer_id) != bool(self.google_wallet_service_account_file):
            problems.append(
                "set both GOOGLE_WALLET_ISSUER_ID and GOOGLE_WALLET_SERVICE_ACCOUNT_FILE, or neither"
            )
        if not self.google_wallet_base_url.startswith("https://"):
            problems.append("GOOGLE_WALLET_BASE_URL must be an https:// address in production")
        apns = (self.apns_key_file, self.apns_key_id, self.apns_team_id, self.apns_topic)
        if any(apns) and not all(apns):
            problems.append(
                "set all of APNS_KEY_FILE, APNS_KEY_ID, APNS_TEAM_ID and APNS_TOPIC, or none"
            )
        files = (
            ("APPLE_PASS_CERT", self.apple_pass_cert),
            ("APPLE_PASS_KEY", self.apple_pass_key),
            ("APPLE_WWDR_CERT", self.apple_wwdr_cert),
            ("GOOGLE_WALLET_SERVICE_ACCOUNT_FILE", self.google_wallet_service_account_file),
            ("APNS_KEY_FILE", self.apns_key_file),
            ("APNS_CA_FILE", self.apns_ca_file),
            ("FCM_SERVICE_ACCOUNT_FILE", self.fcm_service_account_file),
        )
        for name, path in files:  # found now, not at the first pass or push
            if path and not os.access(path, os.R_OK):
                problems.append(f"{name} names {path}, which cannot be read")
        return problems

    def check_for_production(self) -> None:
        """Raise ConfigurationError, one line naming every problem, when LOYALTY_ENV=production."""
        if self.is_production:
            problems = self.production_problems()
            if problems:
                raise ConfigurationError("refusing to start in production: " + "; ".join(problems))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
