"""Apple Wallet: a member's store card as `pass.json`, the signed `.pkpass` bundle, and the
development signing identity. Pure functions: no database, no clock (times are passed in).

The bundle is what Apple's "Building a Pass" describes: `pass.json`, the images, `manifest.json`
(the SHA-1 hex of every other file's exact bytes) and `signature`, a detached PKCS #7 signature
of `manifest.json` in DER, SHA-256, by the pass type certificate, with Apple's WWDR intermediate
certificate embedded and the signing time as a signed attribute.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

MEDIA_TYPE = "application/vnd.apple.pkpass"
IMAGES = ("icon.png", "icon@2x.png", "logo.png", "strip.png")
# Colours of the card, in the `rgb(r, g, b)` form pass.json wants (assets/generate.py uses them).
BACKGROUND = "rgb(18, 74, 94)"
FOREGROUND = "rgb(255, 255, 255)"
LABEL = "rgb(242, 183, 5)"
# A fixed time for the zip entries: the bundle's bytes depend only on its content.
_ZIP_TIME = (2026, 1, 1, 0, 0, 0)

SigningKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass(frozen=True, slots=True)
class PassFace:
    """What the card shows."""

    program_name: str
    member_name: str
    card_number: str
    balance: int
    tier_name: str
    static_code: str
    member_since: dt.datetime


@dataclass(frozen=True, slots=True)
class PassIdentity:
    """Who issues the pass and how devices reach us about it."""

    pass_type_id: str
    team_id: str
    serial_number: str
    authentication_token: str
    web_service_url: str


def w3c(moment: dt.datetime) -> str:
    """A W3C date (ISO 8601 to the second, the offset with a colon), as pass.json wants."""
    if moment.tzinfo is None:
        raise ValueError("pass dates need a time zone")
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds")


def grouped(card_number: str) -> str:
    return " ".join(card_number[i : i + 4] for i in range(0, len(card_number), 4))


def pass_json(face: PassFace, identity: PassIdentity, *, updated_at: dt.datetime) -> dict[str, Any]:
    """The pass.json of a member's store card."""
    return {
        "formatVersion": 1,
        "passTypeIdentifier": identity.pass_type_id,
        "serialNumber": identity.serial_number,
        "teamIdentifier": identity.team_id,
        "organizationName": face.program_name,
        "description": f"{face.program_name} member card",
        "logoText": face.program_name,
        "webServiceURL": identity.web_service_url,
        "authenticationToken": identity.authentication_token,
        "backgroundColor": BACKGROUND,
        "foregroundColor": FOREGROUND,
        "labelColor": LABEL,
        "sharingProhibited": True,
        "barcodes": [
            {
                "format": "PKBarcodeFormatQR",
                "message": face.static_code,
                "messageEncoding": "iso-8859-1",
                "altText": grouped(face.card_number),
            }
        ],
        "storeCard": {
            "headerFields": [
                {
                    "key": "tier",
                    "label": "TIER",
                    "value": face.tier_name,
                    "changeMessage": "Your tier is now %@",
                }
            ],
            "primaryFields": [
                {
                    "key": "balance",
                    "label": "POINTS",
                    "value": face.balance,
                    "numberStyle": "PKNumberStyleDecimal",
                    "changeMessage": "Balance: %@",
                }
            ],
            "secondaryFields": [{"key": "name", "label": "MEMBER", "value": face.member_name}],
            "auxiliaryFields": [
                {"key": "number", "label": "CARD NUMBER", "value": grouped(face.card_number)}
            ],
            "backFields": [
                {
                    "key": "memberSince",
                    "label": "Member since",
                    "value": w3c(face.member_since),
                    "dateStyle": "PKDateStyleMedium",
                    "timeStyle": "PKDateStyleNone",
                },
                {
                    "key": "updated",
                    "label": "Updated",
                    "value": w3c(updated_at),
                    "dateStyle": "PKDateStyleMedium",
                    "timeStyle": "PKDateStyleShort",
                },
                {
                    "key": "help",
                    "label": "At the till",
                    "value": "Show the QR code, or give the card number. Points follow every "
                    "purchase; this card updates itself.",
                },
            ],
        },
    }


@cache
def images() -> dict[str, bytes]:
    """The card's images, shipped as package data (drawn once by assets/generate.py)."""
    folder = resources.files("app.wallet").joinpath("assets")
    return {name: folder.joinpath(name).read_bytes() for name in IMAGES}


# -- signing ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SigningIdentity:
    certificate: x509.Certificate
    private_key: SigningKey
    wwdr: x509.Certificate

    def sign(self, manifest: bytes) -> bytes:
        """A detached DER PKCS #7 signature of `manifest`, SHA-256, with the WWDR certificate
        embedded; the builder adds the signing time (and content type, digest) as attributes."""
        return (
            pkcs7.PKCS7SignatureBuilder()
            .set_data(manifest)
            .add_signer(self.certificate, self.private_key, hashes.SHA256())
            .add_certificate(self.wwdr)
            .sign(
                serialization.Encoding.DER,
                [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary],
            )
        )


def load_certificate(data: bytes) -> x509.Certificate:
    """A certificate in PEM or DER (Apple hands out the WWDR certificate as DER `.cer`)."""
    if b"-----BEGIN" in data:
        return x509.load_pem_x509_certificate(data)
    return x509.load_der_x509_certificate(data)


def load_identity(
    certificate: bytes, private_key: bytes, wwdr: bytes, *, password: bytes | None = None
) -> SigningIdentity:
    """The signing identity from its files' bytes. Raises ValueError when one cannot be read
    or the key does not belong to the certificate."""
    key = serialization.load_pem_private_key(private_key, password=password)
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ValueError("the pass key must be an RSA or EC private key")
    cert = load_certificate(certificate)
    if cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) != key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ):
        raise ValueError("the pass key does not belong to the pass certificate")
    return SigningIdentity(certificate=cert, private_key=key, wwdr=load_certificate(wwdr))


@dataclass(frozen=True, slots=True)
class DevCertificates:
    ca_pem: str
    cert_pem: str
    key_pem: str


def make_dev_certificates(pass_type_id: str, team_id: str, *, now: dt.datetime) -> DevCertificates:
    """A development CA (standing in for Apple's WWDR intermediate) and a pass type certificate
    it issued, with the subject fields Apple's have (UID = pass type id, OU = team id). P-256 keys:
    quick to make; Wallet trusts neither, openssl verifies both against the CA."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "Loyalty Development Pass CA"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Loyalty (development)"),
        ]
    )
    not_before = now - dt.timedelta(days=30)
    not_after = now + dt.timedelta(days=3650)
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.USER_ID, pass_type_id),
                    x509.NameAttribute(NameOID.COMMON_NAME, f"Pass Type ID: {pass_type_id}"),
                    x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, team_id),
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Loyalty (development)"),
                ]
            )
        )
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return DevCertificates(
        ca_pem=ca.public_bytes(serialization.Encoding.PEM).decode(),
        cert_pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
        key_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode(),
    )


# -- the bundle -------------------------------------------------------------------------------------


def bundle(
    document: Mapping[str, Any], files: Mapping[str, bytes], identity: SigningIdentity
) -> bytes:
    """The `.pkpass`: a zip of pass.json, the files, manifest.json and signature."""
    contents = {
        "pass.json": json.dumps(document, ensure_ascii=False, indent=1).encode("utf-8"),
        **files,
    }
    manifest = json.dumps(
        {name: hashlib.sha1(data).hexdigest() for name, data in contents.items()},  # noqa: S324 (Apple's manifest is SHA-1)
        indent=1,
        sort_keys=True,
    ).encode("utf-8")
    contents["manifest.json"] = manifest
    contents["signature"] = identity.sign(manifest)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in contents.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=_ZIP_TIME), data, zipfile.ZIP_DEFLATED)
    return out.getvalue()
