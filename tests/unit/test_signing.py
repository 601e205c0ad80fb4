"""The signature on a monitor's alerts (prompter.runs.signing), checked against the construction SPEC
§2.9 states, computed here with the standard library and with the openssl command line."""

from __future__ import annotations

import hashlib
import hmac
import shutil
import subprocess

import pytest

from prompter.adapters.queues import backoff_seconds
from prompter.runs.signing import signature, verify

SECRET = "whsec_" + "ab" * 32
BODY = b'{"detail":{"brand":"Avea","country":"DE"},"id":"e-1","type":"VisibilityShift"}'


def test_the_signature_is_hmac_sha256_of_t_dot_body_keyed_with_the_secret() -> None:
    expected = hmac.new(SECRET.encode("utf-8"), b"1796601600." + BODY, hashlib.sha256).hexdigest()
    assert signature(SECRET, BODY, 1796601600) == f"t=1796601600,v1={expected}"


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_openssl_computes_the_same_signature() -> None:
    answer = subprocess.run(
        ["openssl", "dgst", "-sha256", "-hmac", SECRET, "-r"],
        input=b"1796601600." + BODY,
        capture_output=True,
        check=True,
    )
    digest = answer.stdout.split()[0].decode()
    assert signature(SECRET, BODY, 1796601600).endswith(f",v1={digest}")


def test_a_receiver_accepts_only_the_body_as_signed_within_the_tolerance() -> None:
    header = signature(SECRET, BODY, 1_000_000)
    assert verify(SECRET, BODY, header, now=1_000_100)
    assert not verify(SECRET, BODY + b" ", header, now=1_000_100)  # a changed body
    assert not verify("whsec_other", BODY, header, now=1_000_100)  # another secret
    assert not verify(SECRET, BODY, header, now=1_000_000 + 301)  # replayed too late
    assert not verify(SECRET, BODY, "t=abc,v1=00", now=1_000_000)
    assert not verify(SECRET, BODY, "", now=1_000_000)


def test_the_back_off_doubles_from_30_seconds_up_to_a_quarter_hour() -> None:
    assert [backoff_seconds(n) for n in range(1, 8)] == [30, 60, 120, 240, 480, 900, 900]
