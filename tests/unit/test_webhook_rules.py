"""Standard Webhooks signing and the URL rules, without a database."""

from __future__ import annotations

import base64

import pytest

from app.webhooks import rules

# The vector of the Standard Webhooks reference libraries (libraries/python/tests/test_webhooks.py)
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = '{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_signature_matches_the_spec_vector():
    # when
    signature = rules.sign(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY)

    # then
    assert signature == SPEC_SIGNATURE


def test_a_header_signed_with_two_secrets_verifies_with_either():
    # given
    other = rules.encode_secret(b"\x01" * 32)
    body = SPEC_BODY.encode()

    # when
    header = rules.signature_header([other, SPEC_SECRET], SPEC_ID, SPEC_TIMESTAMP, body)

    # then
    assert header.split(" ")[1] == SPEC_SIGNATURE
    assert rules.verify(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, body, header)
    assert rules.verify(other, SPEC_ID, SPEC_TIMESTAMP, body, header)
    assert not rules.verify(
        rules.encode_secret(b"\x02" * 32), SPEC_ID, SPEC_TIMESTAMP, body, header
    )


def test_a_changed_body_or_timestamp_does_not_verify():
    body = SPEC_BODY.encode()
    assert not rules.verify(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, body + b" ", SPEC_SIGNATURE)
    assert not rules.verify(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP + 1, body, SPEC_SIGNATURE)
    assert not rules.verify(SPEC_SECRET, "msg_other", SPEC_TIMESTAMP, body, SPEC_SIGNATURE)


def test_secret_round_trips_through_whsec():
    key = bytes(range(32))
    secret = rules.encode_secret(key)
    assert secret.startswith("whsec_")
    assert base64.b64decode(secret[6:]) == key
    assert rules.secret_bytes(secret) == key


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://hooks.example.com/loyalty", None),
        ("http://127.0.0.1:8080/x?y=1", None),
        ("ftp://example.com/x", "The URL must start with http:// or https://."),
        ("javascript:alert(1)", "The URL must start with http:// or https://."),
        ("https://", "The URL must name a host."),
        ("https://user:pw@example.com/", "The URL must not carry credentials."),
        ("https://exa mple.com/", "The URL must not contain spaces or control characters."),
        ("https://example.com:99999/", "The URL is not valid."),
        ("https://example.com/" + "a" * 2029, "The URL must be at most 2048 characters."),
    ],
)
def test_url_problem(url, problem):
    assert rules.url_problem(url) == problem


def test_a_url_of_exactly_2048_characters_is_fine():
    url = "https://example.com/" + "a" * 2028
    assert len(url) == 2048
    assert rules.url_problem(url) is None


@pytest.mark.parametrize(
    ("address", "private"),
    [
        ("127.0.0.1", True),
        ("10.1.2.3", True),
        ("172.16.0.9", True),
        ("192.168.1.1", True),
        ("169.254.169.254", True),  # cloud metadata, link-local
        ("0.0.0.0", True),
        ("100.64.0.1", True),  # carrier-grade NAT
        ("::1", True),
        ("fe80::1%eth0", True),
        ("fd00::1", True),
        ("::ffff:127.0.0.1", True),
        ("224.0.0.1", True),
        ("93.184.215.14", False),
        ("2606:4700:4700::1111", False),
    ],
)
def test_private_addresses(address, private):
    assert rules.is_private_address(address) is private


def test_host_literal():
    assert rules.host_literal("[::1]") == "::1"
    assert rules.host_literal("127.0.0.1") == "127.0.0.1"
    assert rules.host_literal("example.com") is None
