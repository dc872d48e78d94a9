from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from app.settings import (
    DEV_JWT_KEYS,
    DEV_MEMBER_CODE_SECRET,
    ConfigurationError,
    Settings,
)

GOOD_JWT_SECRET = "j" * 48
GOOD_CODE_SECRET = "m" * 48
PRODUCTION: dict[str, Any] = {
    "LOYALTY_ENV": "production",
    "DATABASE_URL": "postgresql+asyncpg://loyalty@db.internal:5432/loyalty",
    "PUBLIC_BASE_URL": "https://loyalty.example.com",
    "LOYALTY_JWT_KEYS": f'{{"2026-06": "{GOOD_JWT_SECRET}"}}',
    "LOYALTY_JWT_ACTIVE_KID": "2026-06",
    "LOYALTY_MEMBER_CODE_SECRET": GOOD_CODE_SECRET,
    "APPLE_PASS_TYPE_ID": "pass.com.example.loyalty",
    "APPLE_TEAM_ID": "ABCDE12345",
    # Any readable file: at start, production checks that the files it names can be read.
    "APPLE_PASS_CERT": __file__,
    "APPLE_PASS_KEY": __file__,
    "APPLE_WWDR_CERT": __file__,
}


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only what a test sets: none of the process's own LOYALTY_*, DATABASE_URL ... leak in."""
    for field in Settings.model_fields.values():
        if field.alias:
            monkeypatch.delenv(field.alias, raising=False)


def _settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def _production_error(**overrides: Any) -> str:
    settings = _settings(**{**PRODUCTION, **overrides})
    with pytest.raises(ConfigurationError) as raised:
        settings.check_for_production()
    return str(raised.value)


def test_defaults_are_for_development() -> None:
    # when
    settings = _settings()

    # then
    assert (
        settings.env,
        settings.is_production,
        settings.database_url,
        settings.is_sqlite,
        settings.public_base_url,
        settings.currency,
        settings.jwt_active_kid,
        {kid: key.get_secret_value() for kid, key in settings.jwt_keys.items()},
        settings.member_code_secret.get_secret_value(),
        settings.cors_origins,
    ) == (
        "development",
        False,
        "sqlite+aiosqlite:///./loyalty.db",
        True,
        "http://127.0.0.1:8000",
        "USD",
        "dev-1",
        DEV_JWT_KEYS,
        DEV_MEMBER_CODE_SECRET,
        [],
    )


def test_development_starts_on_the_development_defaults() -> None:
    # given
    settings = _settings()

    # when
    result = settings.check_for_production()

    # then
    assert result is None
    assert len(settings.production_problems()) == 9  # 4, and the 5 APPLE_* settings


def test_good_production_configuration_passes() -> None:
    # given
    settings = _settings(**PRODUCTION)

    # when
    result = settings.check_for_production()

    # then
    assert result is None
    assert settings.production_problems() == []
    assert settings.is_production is True
    assert settings.is_sqlite is False


def test_production_on_the_defaults_names_every_problem_on_one_line() -> None:
    # when
    message = _production_error(
        **{
            "DATABASE_URL": "sqlite+aiosqlite:///./loyalty.db",
            "PUBLIC_BASE_URL": "http://127.0.0.1:8000",
            "LOYALTY_JWT_KEYS": DEV_JWT_KEYS,
            "LOYALTY_JWT_ACTIVE_KID": "dev-1",
            "LOYALTY_MEMBER_CODE_SECRET": DEV_MEMBER_CODE_SECRET,
        }
    )

    # then
    assert message == (
        "refusing to start in production: "
        "LOYALTY_JWT_KEYS['dev-1'] is the development default secret; "
        "LOYALTY_MEMBER_CODE_SECRET is the development default secret; "
        "DATABASE_URL is the embedded development default (production needs PostgreSQL); "
        "PUBLIC_BASE_URL must be an https:// address in production"
    )
    assert "\n" not in message


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        (
            {"LOYALTY_JWT_KEYS": DEV_JWT_KEYS, "LOYALTY_JWT_ACTIVE_KID": "dev-1"},
            "LOYALTY_JWT_KEYS['dev-1'] is the development default secret",
        ),
        (
            {"LOYALTY_JWT_KEYS": {"2026-06": DEV_JWT_KEYS["dev-1"]}},
            "LOYALTY_JWT_KEYS['2026-06'] is the development default secret",
        ),
        (
            {"LOYALTY_JWT_KEYS": {"2026-06": "s" * 31}},
            "LOYALTY_JWT_KEYS['2026-06'] is shorter than 32 characters",
        ),
        (
            {"LOYALTY_JWT_KEYS": {"2026-06": GOOD_JWT_SECRET, "2025-12": "old"}},
            "LOYALTY_JWT_KEYS['2025-12'] is shorter than 32 characters",
        ),
        (
            {"LOYALTY_MEMBER_CODE_SECRET": DEV_MEMBER_CODE_SECRET},
            "LOYALTY_MEMBER_CODE_SECRET is the development default secret",
        ),
        (
            {"LOYALTY_MEMBER_CODE_SECRET": "c" * 31},
            "LOYALTY_MEMBER_CODE_SECRET is shorter than 32 characters",
        ),
        (
            {"LOYALTY_MEMBER_CODE_SECRET": ""},
            "LOYALTY_MEMBER_CODE_SECRET is shorter than 32 characters",
        ),
        (
            {"DATABASE_URL": "sqlite+aiosqlite:///./loyalty.db"},
            "DATABASE_URL is the embedded development default (production needs PostgreSQL)",
        ),
        (
            {"APPLE_PASS_KEY": "/run/secrets/missing-key.pem"},
            "APPLE_PASS_KEY names /run/secrets/missing-key.pem, which cannot be read",
        ),
        (
            {
                "GOOGLE_WALLET_ISSUER_ID": "3388000000012345678",
                "GOOGLE_WALLET_SERVICE_ACCOUNT_FILE": "/run/secrets/google.json",
            },
            "GOOGLE_WALLET_SERVICE_ACCOUNT_FILE names /run/secrets/google.json, which cannot be read",
        ),
        (
            {"APNS_KEY_FILE": __file__, "APNS_KEY_ID": "KEY123", "APNS_TEAM_ID": "TEAM12"},
            "set all of APNS_KEY_FILE, APNS_KEY_ID, APNS_TEAM_ID and APNS_TOPIC, or none",
        ),
        (
            {"PUBLIC_BASE_URL": "http://loyalty.example.com"},
            "PUBLIC_BASE_URL must be an https:// address in production",
        ),
    ],
)
def test_production_refuses_one_problem_with_one_line_naming_it(
    overrides: dict[str, Any], problem: str
) -> None:
    # when
    message = _production_error(**overrides)

    # then
    assert message == f"refusing to start in production: {problem}"


def test_secrets_at_32_characters_are_long_enough() -> None:
    # given
    settings = _settings(
        **{
            **PRODUCTION,
            "LOYALTY_JWT_KEYS": {"2026-06": "s" * 32},
            "LOYALTY_MEMBER_CODE_SECRET": "c" * 32,
        }
    )

    # when
    problems = settings.production_problems()

    # then
    assert problems == []


def test_production_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # given
    for name, value in PRODUCTION.items():
        monkeypatch.setenv(name, value)

    # when
    settings = _settings()

    # then
    assert settings.is_production is True
    assert settings.database_url == PRODUCTION["DATABASE_URL"]
    assert settings.jwt_active_kid == "2026-06"
    assert {kid: key.get_secret_value() for kid, key in settings.jwt_keys.items()} == {
        "2026-06": GOOD_JWT_SECRET
    }
    assert settings.member_code_secret.get_secret_value() == GOOD_CODE_SECRET
    assert settings.production_problems() == []


def test_jwt_keys_are_parsed_from_json() -> None:
    # when
    settings = _settings(
        LOYALTY_JWT_KEYS='{"k1": "first-secret", "k2": "second-secret"}',
        LOYALTY_JWT_ACTIVE_KID="k2",
    )

    # then
    assert {kid: key.get_secret_value() for kid, key in settings.jwt_keys.items()} == {
        "k1": "first-secret",
        "k2": "second-secret",
    }
    assert settings.jwt_active_kid == "k2"


def test_field_names_work_as_well_as_environment_names() -> None:
    # when
    settings = _settings(jwt_keys={"k1": "first-secret"}, jwt_active_kid="k1", currency="EUR")

    # then
    assert list(settings.jwt_keys) == ["k1"]
    assert settings.currency == "EUR"


def test_secrets_are_hidden_in_the_representation() -> None:
    # given
    settings = _settings(**PRODUCTION)

    # when
    shown = repr(settings)

    # then
    assert GOOD_JWT_SECRET not in shown
    assert GOOD_CODE_SECRET not in shown


@pytest.mark.parametrize(
    ("values", "location"),
    [
        ({"LOYALTY_JWT_KEYS": '{"k1": "secret"}'}, "LOYALTY_JWT_ACTIVE_KID 'dev-1'"),
        ({"LOYALTY_JWT_KEYS": "{}"}, "LOYALTY_JWT_ACTIVE_KID 'dev-1'"),
        (
            {"LOYALTY_JWT_KEYS": '{"k1": "secret"}', "LOYALTY_JWT_ACTIVE_KID": "k2"},
            "LOYALTY_JWT_ACTIVE_KID 'k2'",
        ),
        ({"LOYALTY_JWT_KEYS": "k1=secret"}, "LOYALTY_JWT_KEYS"),
        ({"LOYALTY_JWT_KEYS": '["k1", "secret"]'}, "LOYALTY_JWT_KEYS"),
        ({"LOYALTY_JWT_KEYS": '{"k1": 5}', "LOYALTY_JWT_ACTIVE_KID": "k1"}, "LOYALTY_JWT_KEYS"),
    ],
)
def test_jwt_keys_refuse_bad_json_and_an_active_kid_that_is_not_a_key(
    values: dict[str, Any], location: str
) -> None:
    # when
    with pytest.raises(ValidationError) as raised:
        _settings(**values)

    # then
    assert raised.value.error_count() == 1
    assert location in str(raised.value)


def test_cors_origins_are_a_comma_separated_list() -> None:
    # when
    settings = _settings(
        LOYALTY_CORS_ORIGINS=" https://app.example.com, https://admin.example.com ,,"
    )

    # then
    assert settings.cors_origins == ["https://app.example.com", "https://admin.example.com"]


def test_cors_origins_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # given
    monkeypatch.setenv("LOYALTY_CORS_ORIGINS", "https://app.example.com,https://b.example.com")

    # when
    settings = _settings()

    # then
    assert settings.cors_origins == ["https://app.example.com", "https://b.example.com"]


def test_public_base_url_loses_its_trailing_slash() -> None:
    # when
    settings = _settings(PUBLIC_BASE_URL="https://loyalty.example.com/")

    # then
    assert settings.public_base_url == "https://loyalty.example.com"


@pytest.mark.parametrize("currency", ["JPY", "KWD", "EUR"])
def test_currency_accepts_an_iso_code(currency: str) -> None:
    # when
    settings = _settings(LOYALTY_CURRENCY=currency)

    # then
    assert settings.currency == currency


@pytest.mark.parametrize("currency", ["usd", "US", "USDX", "", "U$D", "USD\n", " USD", "ÜSD"])
def test_currency_refuses_what_is_not_three_capital_letters(currency: str) -> None:
    # when
    with pytest.raises(ValidationError) as raised:
        _settings(LOYALTY_CURRENCY=currency)

    # then
    assert raised.value.error_count() == 1
    assert raised.value.errors()[0]["loc"] == ("LOYALTY_CURRENCY",)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LOYALTY_ENV", "staging"),
        ("LOYALTY_ACCESS_TOKEN_TTL", 59),
        ("LOYALTY_ACCESS_TOKEN_TTL", 86401),
        ("LOYALTY_REFRESH_TOKEN_TTL_DAYS", 0),
        ("LOYALTY_ARGON2_MEMORY_KIB", 7),
        ("LOYALTY_MAX_BODY_BYTES", 1023),
    ],
)
def test_refuses_values_out_of_range(name: str, value: Any) -> None:
    # when
    with pytest.raises(ValidationError) as raised:
        _settings(**{name: value})

    # then
    assert raised.value.error_count() == 1
    assert raised.value.errors()[0]["loc"] == (name,)


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("LOYALTY_JWT_KEYS", "notjson", 'must be a JSON object {"<kid>": "<secret>", ...}'),
        ("LOYALTY_LOG_LEVEL", "verbose", "Input should be 'DEBUG', 'INFO', 'WARNING'"),
    ],
)
def test_a_malformed_setting_from_the_environment_is_named_with_what_it_should_be(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, says: str
) -> None:
    # given
    monkeypatch.setenv(name, value)

    # when
    with pytest.raises(ValidationError) as raised:
        _settings()

    # then
    assert name in str(raised.value)
    assert says in str(raised.value)


def test_the_log_level_may_be_written_in_lower_case(monkeypatch: pytest.MonkeyPatch) -> None:
    # given
    monkeypatch.setenv("LOYALTY_LOG_LEVEL", "debug")

    # when
    settings = _settings()

    # then
    assert settings.log_level == "DEBUG"
