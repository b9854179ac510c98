"""``verify_signature``: the scheme of ``Webhook-Signature`` (pure: no server)."""

import hashlib
import hmac

import pytest
from jobengine_client import InvalidSignature, sign, verify_signature

SECRET = "whsec_test_secret"  # noqa: S105 — a throwaway secret of the test
BODY = b'{"event": "task.completed", "task": {"id": 7, "status": "completed"}}'
T = 1_800_000_000


def header_for(secret: str, body: bytes, t: int) -> str:
    """Computed here from the scheme's definition, not with the SDK's own ``sign``."""
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def test_a_valid_signature_verifies_and_returns_its_timestamp() -> None:
    assert verify_signature(SECRET, header_for(SECRET, BODY, T), BODY, now=T + 10) == T
    assert verify_signature(SECRET.encode(), header_for(SECRET, BODY, T), BODY.decode(), now=T) == T
    assert sign(SECRET, BODY, T) == header_for(SECRET, BODY, T)


def test_any_of_several_v1_values_may_match() -> None:
    good = header_for(SECRET, BODY, T).split(",")[1]
    other = header_for("whsec_old", BODY, T).split(",")[1]
    assert verify_signature(SECRET, f"t={T}, {other}, {good}", BODY, now=T) == T
    assert verify_signature("whsec_old", f"t={T},{other},{good}", BODY, now=T) == T


@pytest.mark.parametrize(("header", "body", "now", "why"), [
    (header_for(SECRET, BODY, T), BODY + b" ", T, "no v1 signature matches"),
    (header_for("whsec_other", BODY, T), BODY, T, "no v1 signature matches"),
    (header_for(SECRET, BODY, T), BODY, T + 301, "tolerance"),
    (header_for(SECRET, BODY, T), BODY, T - 301, "tolerance"),
    (f"v1={'0' * 64}", BODY, T, "no t= timestamp"),
    (f"t={T}", BODY, T, "no v1= signature"),
    (f"t=soon,v1={'0' * 64}", BODY, T, "not an integer"),
    ("", BODY, T, "no Webhook-Signature"),
])
def test_what_does_not_verify_is_refused_with_the_reason(header: str, body: bytes, now: int, why: str) -> None:
    with pytest.raises(InvalidSignature, match=why):
        verify_signature(SECRET, header, body, now=now)


def test_the_tolerance_is_the_callers_and_can_be_turned_off() -> None:
    old = header_for(SECRET, BODY, T)
    with pytest.raises(InvalidSignature):
        verify_signature(SECRET, old, BODY, tolerance=5, now=T + 6)
    assert verify_signature(SECRET, old, BODY, tolerance=5, now=T + 5) == T
    assert verify_signature(SECRET, old, BODY, tolerance=0, now=T + 10**6) == T
