"""QR codes for the dashboard: the 2FA set-up's ``otpauth://`` URL as an SVG image.

Made on the server (segno: pure Python, no dependency) and sent as a ``data:`` URI, which
the web app's CSP allows for images (``img-src 'self' data:``): the secret never goes to a
third-party QR service, and the page needs no QR encoder of its own.
"""

from __future__ import annotations

import segno


def svg_data_uri(text: str) -> str:
    """``text`` as a QR code, an SVG ``data:`` URI (black on white, quiet zone kept)."""
    return segno.make(text, error="m").svg_data_uri(scale=5, dark="#000", light="#fff")
