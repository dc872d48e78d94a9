"""The member's Apple Wallet pass: a complete, signed `.pkpass` that openssl verifies, a pass.json
as Apple specifies it, a serial number and token that never change, and the signing identity
(the configured files, or the development one made once)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid

import pytest
from sqlalchemy import func, select

from app.auth.actors import MemberActor, StaffActor
from app.errors import Forbidden
from app.members import service as members_service
from app.settings import ConfigurationError
from app.wallet import apple
from app.wallet import service as wallet_service
from app.wallet.models import WalletDevCertificate, WalletPass
from tests.conftest import make_settings
from tests.service.helpers import code_secret
from tests.service.wallet.passes import (
    REQUIRED_FILES,
    W3C,
    field,
    manifest_problems,
    openssl_verify,
    pass_json,
    pass_problems,
    png_size,
    signature_certificates,
    signing_time,
    unzip,
)
from tests.support import create_member


async def member_actor(db, settings, clock, email="ann@example.com", **fields):
    _, member = await create_member(db, settings, clock, email=email, **fields)
    return member, MemberActor(member.id)


async def test_pass_is_signed_and_verifies_with_openssl(db, settings, clock, tmp_path):
    # given
    _, actor = await member_actor(db, settings, clock)

    # when
    pass_file = await wallet_service.member_pass_file(db, actor, clock, settings)

    # then
    files = unzip(pass_file.content)
    assert REQUIRED_FILES | {"logo.png", "strip.png"} == set(files)
    assert manifest_problems(files) == []
    ca = await wallet_service.dev_certificates(db, settings, clock)
    verified = openssl_verify(files, ca.ca_pem, tmp_path / "verify")
    assert verified.returncode == 0, verified.stderr
    assert "Verification successful" in verified.stderr
    assert (tmp_path / "verify" / "verified").read_bytes() == files["manifest.json"]


async def test_signature_embeds_the_intermediate_and_a_signing_time(db, settings, clock, tmp_path):
    # given
    _, actor = await member_actor(db, settings, clock)

    # when
    files = unzip((await wallet_service.member_pass_file(db, actor, clock, settings)).content)

    # then
    ca = await wallet_service.dev_certificates(db, settings, clock)
    subjects = sorted(
        cert.subject.rfc4514_string() for cert in signature_certificates(files["signature"])
    )
    assert subjects == sorted(
        [
            apple.load_certificate(ca.ca_pem.encode()).subject.rfc4514_string(),
            apple.load_certificate(ca.cert_pem.encode()).subject.rfc4514_string(),
        ]
    )
    assert signing_time(files["signature"], tmp_path).endswith("GMT")


async def test_pass_json_follows_apples_rules(db, settings, clock):
    # given
    member, actor = await member_actor(db, settings, clock, last_name="Lee")

    # when
    document = pass_json(
        (await wallet_service.member_pass_file(db, actor, clock, settings)).content
    )

    # then
    assert pass_problems(document) == []
    assert document["passTypeIdentifier"] == wallet_service.DEV_PASS_TYPE_ID
    assert document["teamIdentifier"] == wallet_service.DEV_TEAM_ID
    assert document["webServiceURL"] == "http://127.0.0.1:8000/wallet"
    assert document["organizationName"] == "Loyalty"
    assert document["barcodes"] == [
        {
            "format": "PKBarcodeFormatQR",
            "message": members_service.static_code_for(member, code_secret(settings)),
            "messageEncoding": "iso-8859-1",
            "altText": apple.grouped(member.card_number),
        }
    ]
    assert document["barcodes"][0]["message"].startswith("W1.")
    assert field(document, "balance") == {
        "key": "balance",
        "label": "POINTS",
        "value": 0,
        "numberStyle": "PKNumberStyleDecimal",
        "changeMessage": "Balance: %@",
    }
    assert field(document, "tier")["value"] == "Bronze"
    assert field(document, "tier")["changeMessage"] == "Your tier is now %@"
    assert field(document, "name")["value"] == "Ann Lee"
    assert field(document, "number")["value"] == apple.grouped(member.card_number)
    assert field(document, "memberSince")["value"] == "2026-06-01T12:00:00+00:00"
    assert W3C.fullmatch(field(document, "updated")["value"])


async def test_images_have_apples_sizes(db, settings, clock):
    # given
    _, actor = await member_actor(db, settings, clock)

    # when
    files = unzip((await wallet_service.member_pass_file(db, actor, clock, settings)).content)

    # then
    assert {name: png_size(files[name]) for name in apple.IMAGES} == {
        "icon.png": (29, 29),
        "icon@2x.png": (58, 58),
        "logo.png": (160, 50),
        "strip.png": (375, 123),
    }


async def test_serial_and_token_never_change_and_are_not_the_card(db, settings, clock):
    # given
    member, actor = await member_actor(db, settings, clock)
    _, other = await member_actor(db, settings, clock, email="bob@example.com")
    first = pass_json((await wallet_service.member_pass_file(db, actor, clock, settings)).content)

    # when
    clock.advance(days=3)
    again = pass_json((await wallet_service.member_pass_file(db, actor, clock, settings)).content)
    others = pass_json((await wallet_service.member_pass_file(db, other, clock, settings)).content)

    # then
    assert (again["serialNumber"], again["authenticationToken"]) == (
        first["serialNumber"],
        first["authenticationToken"],
    )
    assert member.card_number not in first["serialNumber"]
    assert len(first["serialNumber"]) == 26
    assert len(first["authenticationToken"]) >= 32
    assert others["serialNumber"] != first["serialNumber"]
    assert others["authenticationToken"] != first["authenticationToken"]
    async with db.read() as session:
        assert await session.scalar(select(func.count()).select_from(WalletPass)) == 2


async def test_development_identity_is_made_once_and_reused(db, settings, clock):
    # given
    _, actor = await member_actor(db, settings, clock)
    _, other = await member_actor(db, settings, clock, email="bob@example.com")

    # when
    first = unzip((await wallet_service.member_pass_file(db, actor, clock, settings)).content)
    second = unzip((await wallet_service.member_pass_file(db, other, clock, settings)).content)

    # then
    signer = {c.serial_number for c in signature_certificates(first["signature"])}
    assert signer == {c.serial_number for c in signature_certificates(second["signature"])}
    async with db.read() as session:
        assert await session.scalar(select(func.count()).select_from(WalletDevCertificate)) == 1


def write_identity(directory, type_id: str, team: str) -> tuple[str, dict[str, str]]:
    """Certificate files as an operator installs them (here made by the dev CA maker)."""
    made = apple.make_dev_certificates(type_id, team, now=dt.datetime.now(dt.UTC))
    directory.mkdir(parents=True, exist_ok=True)
    paths = {
        "cert": directory / "pass.pem",
        "key": directory / "pass.key",
        "wwdr": directory / "wwdr.pem",
    }
    paths["cert"].write_text(made.cert_pem)
    paths["key"].write_text(made.key_pem)
    paths["wwdr"].write_text(made.ca_pem)
    return made.ca_pem, {name: str(path) for name, path in paths.items()}


async def test_configured_certificate_signs_and_no_development_identity_is_made(
    db, settings, clock, tmp_path
):
    # given
    ca_pem, paths = write_identity(tmp_path / "certs", "pass.com.example.loyalty", "ABCDE12345")
    configured = make_settings(
        settings.database_url,
        apple_pass_type_id="pass.com.example.loyalty",
        apple_team_id="ABCDE12345",
        apple_pass_cert=paths["cert"],
        apple_pass_key=paths["key"],
        apple_wwdr_cert=paths["wwdr"],
        public_base_url="https://loyalty.example.com",
    )
    _, actor = await member_actor(db, configured, clock)

    # when
    files = unzip((await wallet_service.member_pass_file(db, actor, clock, configured)).content)

    # then
    verified = openssl_verify(files, ca_pem, tmp_path / "verify")
    assert verified.returncode == 0, verified.stderr
    document = json.loads(files["pass.json"])
    assert (document["passTypeIdentifier"], document["teamIdentifier"]) == (
        "pass.com.example.loyalty",
        "ABCDE12345",
    )
    assert document["webServiceURL"] == "https://loyalty.example.com/wallet"
    async with db.read() as session:
        assert await session.scalar(select(func.count()).select_from(WalletDevCertificate)) == 0


async def test_a_key_of_another_certificate_is_a_configuration_error(db, settings, clock, tmp_path):
    # given
    _, paths = write_identity(tmp_path / "one", "pass.com.example.loyalty", "ABCDE12345")
    _, others = write_identity(tmp_path / "two", "pass.com.example.loyalty", "ABCDE12345")
    configured = make_settings(
        settings.database_url,
        apple_pass_cert=paths["cert"],
        apple_pass_key=others["key"],
        apple_wwdr_cert=paths["wwdr"],
    )
    _, actor = await member_actor(db, configured, clock)

    # when
    with pytest.raises(ConfigurationError) as refused:
        await wallet_service.member_pass_file(db, actor, clock, configured)

    # then
    assert "does not belong to the pass certificate" in str(refused.value)


async def test_only_a_member_has_a_pass(db, settings, clock):
    # given
    staff = StaffActor(uuid.uuid4(), "ADMIN")

    # when
    with pytest.raises(Forbidden):
        await wallet_service.issue_pass(db, staff, clock, settings)

    # then
    async with db.read() as session:
        assert await session.scalar(select(func.count()).select_from(WalletPass)) == 0


def test_production_refuses_to_start_without_the_apple_settings(settings):
    # given
    production = make_settings(
        settings.database_url,
        env="production",
        jwt_keys={"prod-1": "p" * 40},
        jwt_active_kid="prod-1",
        member_code_secret="m" * 40,
        public_base_url="https://loyalty.example.com",
        apple_pass_type_id="pass.com.example.loyalty",
        google_wallet_issuer_id="3388000000022222222",
    )

    # when
    problems = production.production_problems()

    # then
    assert problems == [
        "APPLE_TEAM_ID is not set (Apple Wallet passes need it)",
        "APPLE_PASS_CERT is not set (Apple Wallet passes need it)",
        "APPLE_PASS_KEY is not set (Apple Wallet passes need it)",
        "APPLE_WWDR_CERT is not set (Apple Wallet passes need it)",
        "set both GOOGLE_WALLET_ISSUER_ID and GOOGLE_WALLET_SERVICE_ACCOUNT_FILE, or neither",
    ]


async def test_simultaneous_first_downloads_make_one_pass(db, settings, clock):
    # given
    _, actor = await member_actor(db, settings, clock)

    # when: the app and a second tap ask at the same moment
    passes = await asyncio.gather(
        *(wallet_service.issue_pass(db, actor, clock, settings) for _ in range(4))
    )

    # then
    assert len({p.serial_number for p in passes}) == 1
    assert len({p.authentication_token for p in passes}) == 1
    async with db.read() as session:
        assert await session.scalar(select(func.count()).select_from(WalletPass)) == 1
