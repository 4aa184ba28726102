"""Tolerant reading of key payloads (API.md "credentials").

Old clients and scripts send keys in many shapes: any of the field aliases below, as
JSON, form-data, urlencoded or JSON with a wrong content type (see ``parsers``). This
module turns whatever arrived into one validated :class:`KeyPayload` or raises a 400
that names the field and its accepted aliases — never a 422 or a 500, and never with
the offending value in the message (it may be a secret).
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from dataclasses import dataclass, field

from core.errors import Invalid
from credentials import providers

ALIASES: dict[str, tuple[str, ...]] = {
    "provider": ("provider", "exchange", "platform", "broker"),
    "api_key": ("api_key", "apiKey", "key"),
    "api_secret": ("api_secret", "apiSecret", "secret"),
    "passphrase": ("passphrase",),
    "client_code": ("client_code", "clientCode"),
    "password": ("password",),
    "totp_secret": ("totp", "totp_secret"),
    "purpose": ("purpose",),
    "label": ("label",),
}
SECRET_FIELDS = ("api_key", "api_secret", "passphrase", "client_code", "password", "totp_secret")
MAX_LENGTH = {
    "provider": 64,
    "label": 64,
    "purpose": 16,
    "api_key": 512,
    "api_secret": 4096,  # PEM private keys (Coinbase) are long
    "passphrase": 256,
    "client_code": 64,
    "password": 256,
    "totp_secret": 128,
}
PURPOSES = ("live", "backtest")
_DIGIT_CODE = re.compile(r"\d{6,8}")
_BASE32 = re.compile(r"[A-Z2-7]+=*")


@dataclass
class KeyPayload:
    provider: str
    purpose: str = "live"
    label: str = "default"
    secrets: dict[str, str] = field(default_factory=dict)  # only the fields that were sent non-blank
    credential_id: int | None = None

    def __repr__(self) -> str:  # never the secrets
        return f"<KeyPayload {self.provider}/{self.purpose}/{self.label} fields={sorted(self.secrets)}>"


def aliases_text(name: str) -> str:
    names = ALIASES.get(name, (name,))
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def _fail(name: str, message: str) -> Invalid:
    return Invalid.for_fields({name: [message]})


def _as_mapping(data) -> dict:
    if hasattr(data, "getlist"):  # QueryDict (form-data, urlencoded): last value of each key
        return {key: data.get(key) for key in data}
    if isinstance(data, dict):
        return data
    raise Invalid.for_fields({"non_field_errors": ["The body must be a JSON object or a form, not a list or a value."]})


def clean_text(name: str, value) -> str:
    """A stripped string, or a 400 naming ``name`` (never echoing the value)."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _fail(name, f"{name} must be a string.")
    text = str(value).strip()
    limit = MAX_LENGTH.get(name, 256)
    if len(text) > limit:
        raise _fail(name, f"{name} is too long (at most {limit} characters).")
    allowed = "\n" if name == "api_secret" else ""  # PEM keys span lines
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") and ch not in allowed for ch in text):
        raise _fail(name, f"{name} contains control characters; paste the value again without them.")
    return text


def _pick(data: dict, name: str) -> str:
    """The value sent under any alias of ``name``; different non-blank values are an error."""
    found: dict[str, str] = {}
    for alias in ALIASES.get(name, (name,)):
        if alias in data:
            value = clean_text(name, data[alias])
            if value:
                found[alias] = value
    if len(set(found.values())) > 1:
        raise _fail(name, f"{name} was sent twice with different values (as {', '.join(found)}); send it once.")
    return next(iter(found.values()), "")


def clean_totp(name: str, value: str) -> str:
    """A base32 TOTP secret, normalised (spaces removed, upper case); a 6-digit code is refused."""
    if not value:
        return ""
    secret = re.sub(r"[\s-]", "", value).upper()
    if _DIGIT_CODE.fullmatch(secret):
        raise _fail(
            name,
            "This looks like a one-time code, not a TOTP secret: send the base32 secret shown when you "
            "enabled TOTP (letters A-Z and digits 2-7, e.g. JBSWY3DPEHPK3PXP), not the 6-digit code it generates.",
        )
    if not _BASE32.fullmatch(secret) or len(secret.rstrip("=")) < 16:
        raise _fail(name, "The TOTP secret is not valid base32 (letters A-Z and digits 2-7, at least 16 of them).")
    try:
        base64.b32decode(secret.rstrip("=") + "=" * (-len(secret.rstrip("=")) % 8))
    except (binascii.Error, ValueError) as exc:
        raise _fail(name, "The TOTP secret is not valid base32.") from exc
    return secret


def clean_provider(value: str) -> str:
    provider_id = value.strip().lower()
    if not provider_id:
        raise _fail("provider", f"provider is required (send it as {aliases_text('provider')}).")
    if not providers.is_known(provider_id):
        known = providers.available()
        examples = ", ".join(p for p in ("binance", "kraken", "coinbase", "okx", "bybit") if p in known)
        raise Invalid.for_fields(
            {
                "provider": [
                    f"Unknown provider. Use simulated, replay, angelone or a ccxt exchange id ({examples}, …); "
                    "details.providers lists them all."
                ],
                "providers": known,
            }
        )
    return provider_id


def clean_purpose(value: str) -> str:
    purpose = (value or "live").strip().lower()
    if purpose not in PURPOSES:
        raise _fail("purpose", "purpose must be live or backtest.")
    return purpose


def missing_fields(provider_id: str, secrets: dict[str, str]) -> list[str]:
    return [name for name in providers.get(provider_id).required_fields if not secrets.get(name)]


def require_fields(provider_id: str, secrets: dict[str, str]) -> None:
    missing = missing_fields(provider_id, secrets)
    if missing:
        raise Invalid.for_fields(
            {name: [f"{name} is required for {provider_id} (send it as {aliases_text(name)})."] for name in missing}
        )


def parse_key_payload(data, *, require_secrets: bool = True) -> KeyPayload:
    """One key set from any accepted shape. ``require_secrets``: every required field must be there."""
    data = _as_mapping(data)
    payload = KeyPayload(
        provider=clean_provider(_pick(data, "provider")),
        purpose=clean_purpose(_pick(data, "purpose")),
        label=_pick(data, "label") or "default",
    )
    for name in SECRET_FIELDS:
        value = _pick(data, name)
        if name == "totp_secret":
            value = clean_totp(name, value)
        if value:
            payload.secrets[name] = value
    raw_id = data.get("credential_id", data.get("id"))
    if raw_id not in (None, ""):
        try:
            payload.credential_id = int(str(raw_id).strip())
        except ValueError as exc:
            raise _fail("credential_id", "credential_id must be an integer.") from exc
    if require_secrets:
        require_fields(payload.provider, payload.secrets)
    return payload


# ---------------------------------------------------------------------------
# The flat broker form of val/update_profile
# ---------------------------------------------------------------------------
FLAT_PREFIXES = {"angel_": "live", "backtest_": "backtest"}
FLAT_FIELDS = {
    "api_key": "api_key",
    "client_code": "client_code",
    "password": "password",
    "totp": "totp_secret",
    "totp_secret": "totp_secret",
}
FLAT_PROVIDER = "angelone"


def parse_flat_profile(data) -> dict[str, dict[str, str]]:
    """``{"live": {...}, "backtest": {...}}`` of the non-blank flat fields sent for each set."""
    data = _as_mapping(data)
    sets: dict[str, dict[str, str]] = {}
    for prefix, purpose in FLAT_PREFIXES.items():
        values: dict[str, str] = {}
        for suffix, name in FLAT_FIELDS.items():
            key = prefix + suffix
            if key not in data:
                continue
            value = clean_text(key, data[key])
            if name == "totp_secret":
                value = clean_totp(key, value)
            if value:
                values[name] = value
        if values:
            sets[purpose] = values
    return sets
