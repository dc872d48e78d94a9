"""Helpers for the wallet tests: open a `.pkpass`, check it as Apple does, verify its signature
with openssl."""

from __future__ import annotations

import hashlib
import io
import json
import re
import subprocess
import zipfile
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs7

REQUIRED_FILES = {"pass.json", "manifest.json", "signature", "icon.png", "icon@2x.png"}
RGB = re.compile(r"rgb\(\d{1,3}, \d{1,3}, \d{1,3}\)")
# W3C (ISO 8601) with seconds and an offset that has its colon, as Wallet parses dates
W3C = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(Z|[+-]\d{2}:\d{2})")


def unzip(content: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        assert archive.testzip() is None
        return {name: archive.read(name) for name in archive.namelist()}


def pass_json(content: bytes) -> dict[str, Any]:
    return json.loads(unzip(content)["pass.json"])


def manifest_problems(files: dict[str, bytes]) -> list[str]:
    """Every file but manifest.json and signature is listed with the SHA-1 of its exact bytes,
    and nothing else is."""
    manifest = json.loads(files["manifest.json"])
    listed = set(manifest)
    present = set(files) - {"manifest.json", "signature"}
    problems = [f"{name} not in the manifest" for name in sorted(present - listed)]
    problems += [f"{name} listed but missing" for name in sorted(listed - present)]
    problems += [
        f"{name}: sha1 differs"
        for name in sorted(listed & present)
        if manifest[name] != hashlib.sha1(files[name]).hexdigest()
    ]
    return problems


def openssl_verify(
    files: dict[str, bytes], ca_pem: str, directory: Path
) -> subprocess.CompletedProcess[str]:
    """`openssl smime -verify` of the detached signature over manifest.json, against the CA."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "manifest.json").write_bytes(files["manifest.json"])
    (directory / "signature").write_bytes(files["signature"])
    (directory / "ca.pem").write_text(ca_pem)
    return subprocess.run(
        [
            "openssl", "smime", "-verify", "-binary", "-inform", "DER",
            "-content", str(directory / "manifest.json"),
            "-in", str(directory / "signature"),
            "-CAfile", str(directory / "ca.pem"),
            "-purpose", "any",
            "-out", str(directory / "verified"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip


def signature_certificates(signature: bytes) -> list[x509.Certificate]:
    return pkcs7.load_der_pkcs7_certificates(signature)


def signing_time(signature: bytes, directory: Path) -> str:
    """The signingTime attribute, as openssl prints the CMS structure."""
    (directory / "signature.der").write_bytes(signature)
    printed = subprocess.run(
        ["openssl", "cms", "-cmsout", "-print", "-inform", "DER", "-in",
         str(directory / "signature.der")],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    match = re.search(r"signingTime.*?UTCTIME:([^\n]+)", printed, re.DOTALL)
    assert match, printed
    return match.group(1).strip()


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def pass_problems(document: dict[str, Any]) -> list[str]:
    """What Wallet would refuse or mis-show in a store card's pass.json (Apple's "Pass" keys)."""
    problems = []
    for key, kind in (
        ("formatVersion", int), ("passTypeIdentifier", str), ("serialNumber", str),
        ("teamIdentifier", str), ("organizationName", str), ("description", str),
        ("webServiceURL", str), ("authenticationToken", str), ("barcodes", list),
        ("storeCard", dict),
    ):  # fmt: skip
        if not isinstance(document.get(key), kind):
            problems.append(f"{key} missing or not {kind.__name__}")
    if document.get("formatVersion") != 1:
        problems.append("formatVersion is not 1")
    if len(document.get("authenticationToken", "")) < 16:
        problems.append("authenticationToken shorter than 16 characters")
    styles = {"boardingPass", "coupon", "eventTicket", "generic", "storeCard"} & set(document)
    if styles != {"storeCard"}:
        problems.append(f"pass styles {styles}")
    for key in ("backgroundColor", "foregroundColor", "labelColor"):
        if not RGB.fullmatch(document.get(key, "")):
            problems.append(f"{key} is not rgb(r, g, b)")
    for barcode in document.get("barcodes", []):
        if barcode.get("format") not in {
            "PKBarcodeFormatQR", "PKBarcodeFormatPDF417", "PKBarcodeFormatAztec",
            "PKBarcodeFormatCode128",
        }:  # fmt: skip
            problems.append("barcode format")
        if barcode.get("messageEncoding") != "iso-8859-1":
            problems.append("barcode messageEncoding")
        barcode.get("message", "").encode("iso-8859-1")
    keys: list[str] = []
    for group in ("headerFields", "primaryFields", "secondaryFields", "auxiliaryFields",
                  "backFields"):  # fmt: skip
        for item in document["storeCard"].get(group, []):
            keys.append(item["key"])
            if "value" not in item:
                problems.append(f"field {item['key']} has no value")
            if "changeMessage" in item and "%@" not in item["changeMessage"]:
                problems.append(f"field {item['key']}: changeMessage without %@")
            if "dateStyle" in item and not W3C.fullmatch(str(item["value"])):
                problems.append(f"field {item['key']}: date {item['value']!r} is not W3C")
    if len(keys) != len(set(keys)):
        problems.append("field keys repeat")
    return problems


def field(document: dict[str, Any], key: str) -> dict[str, Any]:
    for group in document["storeCard"].values():
        for item in group:
            if item["key"] == key:
                return item
    raise KeyError(key)
