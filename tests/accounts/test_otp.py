"""Email verification: POST /api/auth/send-otp and /api/auth/verify-otp."""

from __future__ import annotations

import re
import smtplib
from datetime import timedelta
from itertools import count

import pytest
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
    assert response.json()["message"] == "A verification code was sent."
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


def test_an_unknown_identifier_is_a_404_and_sends_nothing(api_client):
    assert_error(send(api_client, "nobody@example.com"), 404, "NOT_FOUND")
    assert_error(verify(api_client, "123456", "nobody@example.com"), 404, "NOT_FOUND")
    assert mail.outbox == []


def test_a_mail_failure_is_a_503_and_leaves_no_usable_code(api_client, owner, monkeypatch):
    def broken(*args, **kwargs):
        raise smtplib.SMTPServerDisconnected("gone")

    monkeypatch.setattr("accounts.services.send_mail", broken)

    assert_error(send(api_client), 503, "EMAIL_UNAVAILABLE")
    assert EmailOtp.objects.count() == 0
    monkeypatch.undo()
    assert send(api_client).status_code == 200  # no resend wait after a failed send
