"""Every knob of the service, read from the environment. Nothing else reads os.environ."""

from __future__ import annotations

import json
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
    jwt_keys: dict[str, SecretStr] = Field(
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

    log_level: str = Field("INFO", alias="LOYALTY_LOG_LEVEL")

    @field_validator("jwt_keys", mode="before")
    @classmethod
    def _parse_jwt_keys(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError('must be a JSON object {"<kid>": "<secret>", ...}') from exc
        return value

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

    @field_validator("public_base_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

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
            problems.append("DATABASE_URL is not set (production needs PostgreSQL)")
        if not self.public_base_url.startswith("https://"):
            problems.append("PUBLIC_BASE_URL must be an https:// address in production")
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
