"""Email verification: POST /api/auth/send-otp and /api/auth/verify-otp."""

from __future__ import annotations

import re
import smtplib
from datetime import timedelta
from itertools import count

import pytest
from django.contrib.auth.hashers import MD5PasswordHasher
from django.core import mail
from django.db.models import F
from django.utils import timezone

from accounts.models import EmailOtp
from tests.envelope import assert_error

pytestmark = pytest.mark.django_db

_ips = count(1)


def post(client, path, data):
    # A fresh client address per call keeps the per-IP "otp" throttle out of these tests
    # (tests/test_conventions.py covers it).
    return client.post(path, data, format="json", REMOTE_ADDR=f"10.1.0.{next(_ips) % 250 + 1}")


def send(client, identifier="owner@example.com"):
    return post(client, "/api/auth/send-otp", {"identifier": identifier})


def verify(client, code, identifier="owner@example.com"):
    return post(client, "/api/auth/verify-otp", {"identifier": identifier, "otp_code": code})


def mailed_code(index=-1) -> str:
    return re.search(r"Your code is (\d+)\.", mail.outbox[index].body).group(1)


def age_codes(**delta):
    EmailOtp.objects.update(
        created_at=F("created_at") - timedelta(**delta), expires_at=F("expires_at") - timedelta(**delta)
    )


def test_send_emails_a_six_digit_code_stored_only_as_a_hash(api_client, owner, monkeypatch):
    instant = timezone.now()
    monkeypatch.setattr(timezone, "now", lambda: instant)

    response = send(api_client, "OWNER")

    assert response.status_code == 200, response.content
    assert response.json()["message"] == "If an account matches, a verification code was sent to its e-mail."
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["owner@example.com"]
    code = mailed_code()
    assert re.fullmatch(r"\d{6}", code)
    otp = EmailOtp.objects.get()
    assert (otp.created_at, otp.expires_at) == (instant, instant + timedelta(minutes=10))
    stored = EmailOtp.objects.values_list("code_hash", "attempts", "consumed_at").get()
    assert code not in repr(stored)
    assert otp.code_hash.startswith("md5$")  # the suite's fast hasher; production uses the default one


def test_verify_with_the_right_code_marks_the_email_verified_once(api_client, owner):
    send(api_client)

    response = verify(api_client, mailed_code())

    assert response.status_code == 200, response.content
    assert response.json()["user"]["is_verified"] is True
    owner.refresh_from_db()
    assert owner.is_verified is True
    # single use
    assert_error(verify(api_client, mailed_code()), 400, "OTP_EXPIRED")


def test_a_wrong_code_counts_an_attempt_and_verifies_nothing(api_client, owner):
    send(api_client)
    wrong = f"{(int(mailed_code()) + 1) % 1_000_000:06d}"

    error = assert_error(verify(api_client, wrong), 400, "OTP_INVALID")

    assert error["message"] == "The code is incorrect."
    assert EmailOtp.objects.get().attempts == 1
    owner.refresh_from_db()
    assert owner.is_verified is False


def test_after_five_wrong_codes_even_the_right_one_is_refused(api_client, owner):
    send(api_client)
    code = mailed_code()
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(5):
        assert_error(verify(api_client, wrong), 400, "OTP_INVALID")

    assert_error(verify(api_client, code), 429, "OTP_ATTEMPTS_EXCEEDED")
    owner.refresh_from_db()
    assert owner.is_verified is False
    assert EmailOtp.objects.get().attempts == 5


def test_a_code_expires_after_ten_minutes(api_client, owner):
    send(api_client)
    age_codes(minutes=10, seconds=1)

    assert_error(verify(api_client, mailed_code()), 400, "OTP_EXPIRED")
    owner.refresh_from_db()
    assert owner.is_verified is False


def test_a_code_still_works_just_before_ten_minutes(api_client, owner):
    send(api_client)
    age_codes(minutes=9, seconds=50)

    assert verify(api_client, mailed_code()).status_code == 200


def test_a_resend_within_a_minute_is_refused_with_retry_after(api_client, owner):
    send(api_client)

    response = send(api_client)

    error = assert_error(response, 429, "OTP_RATE_LIMITED")
    retry_after = int(response["Retry-After"])
    assert 0 < retry_after <= 60
    assert error["details"] == {"retry_after": retry_after}
    assert len(mail.outbox) == 1
    assert EmailOtp.objects.count() == 1


def test_a_resend_after_a_minute_replaces_the_earlier_code(api_client, owner):
    send(api_client)
    first = mailed_code()
    age_codes(seconds=61)

    assert send(api_client).status_code == 200

    second = mailed_code()
    assert len(mail.outbox) == 2
    if first != second:
        assert_error(verify(api_client, first), 400, "OTP_INVALID")
    assert verify(api_client, second).status_code == 200


@pytest.mark.parametrize("code", ["12345", "1234567", "abcdef", ""])
def test_a_code_that_is_not_six_digits_is_a_validation_error(api_client, owner, code):
    send(api_client)

    response = verify(api_client, code)

    assert_error(response, 400, "VALIDATION_ERROR")
    assert EmailOtp.objects.get().attempts == 0


def _answers(client, identifier: str) -> list[tuple]:
    """Everything a client can see of the OTP flow for an identifier: status, code, message, body keys."""
    seen = []

    def note(response):
        body = response.json()
        error = body.get("error") or {}
        seen.append((response.status_code, error.get("code"), error.get("message") or body.get("message")))

    note(verify(client, "123456", identifier))  # before any send
    first = send(client, identifier)
    note(first)
    assert set(first.json()) == {"success", "message", "expires_at"}
    note(send(client, identifier))  # too soon
    for _ in range(6):  # wrong codes, then too many
        note(verify(client, "000000" if identifier == "nobody@example.com" else _wrong_code(), identifier))
    return seen


def _wrong_code() -> str:
    return f"{(int(mailed_code()) + 1) % 1_000_000:06d}"


def test_an_unknown_identifier_gets_the_same_answers_as_an_account_and_nothing_is_sent(api_client, owner):
    # Given one identifier with an account and one without, taken through the same steps
    known = _answers(api_client, "owner@example.com")
    mails_for_the_account = len(mail.outbox)

    unknown = _answers(api_client, "nobody@example.com")

    # Then every answer is alike (no 404 tells them apart), and no mail went to the unknown one
    assert unknown == known
    assert [status for status, _, _ in known] == [400, 200, 429, 400, 400, 400, 400, 400, 429]
    assert (known[0][1], known[2][1], known[3][1], known[-1][1]) == (
        "OTP_EXPIRED",
        "OTP_RATE_LIMITED",
        "OTP_INVALID",
        "OTP_ATTEMPTS_EXCEEDED",
    )
    assert len(mail.outbox) == mails_for_the_account == 1


def test_a_mail_failure_is_a_503_and_leaves_no_usable_code(api_client, owner, monkeypatch):
    def broken(*args, **kwargs):
        raise smtplib.SMTPServerDisconnected("gone")

    monkeypatch.setattr("accounts.services.send_mail", broken)

    assert_error(send(api_client), 503, "EMAIL_UNAVAILABLE")
    assert EmailOtp.objects.count() == 0
    monkeypatch.undo()
    assert send(api_client).status_code == 200  # no resend wait after a failed send


class CountingHasher(MD5PasswordHasher):
    """The test hasher, counting the hashes it computes (``verify`` computes one through ``encode``)."""

    computed = 0

    def encode(self, password, salt):
        type(self).computed += 1
        return super().encode(password, salt)


def _hashes_per_step(client, identifier: str) -> list[int]:
    """The hashes each answer of the OTP flow cost, in the steps of ``_answers``."""
    spent = []

    def note(response):
        assert response.status_code in (200, 400, 429), response.content
        spent.append(CountingHasher.computed)
        CountingHasher.computed = 0

    CountingHasher.computed = 0
    note(verify(client, "123456", identifier))  # before any send
    note(send(client, identifier))
    note(send(client, identifier))  # too soon
    for _ in range(6):  # wrong codes, then too many
        note(verify(client, "000000" if identifier == "nobody@example.com" else _wrong_code(), identifier))
    return spent


def test_an_unknown_identifier_costs_the_same_hashing_as_an_account(api_client, owner, settings):
    # A hash is the slowest step of these answers (Argon2id, ~25 ms): a different number of
    # them for an unknown identifier would tell from the timing alone who has an account.
    settings.PASSWORD_HASHERS = ["tests.accounts.test_otp.CountingHasher"]

    known = _hashes_per_step(api_client, "owner@example.com")
    unknown = _hashes_per_step(api_client, "nobody@example.com")

    # Then every answer, to either, costs exactly one hash: sending one, checking one, or its stand-in
    assert known == [1, 1, 0, 1, 1, 1, 1, 1, 1]
    assert unknown == known
