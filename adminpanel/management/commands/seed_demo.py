"""Demo data for the one-command product, created once and reported every run.

The demo staff password is random, generated on first run and kept in the data
folder (mode 600): a self-hosted product must not ship a known admin password.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

DEMO_ACCOUNTS = (
    ("staff", "admin@botfleet.local", True),
    ("demo", "demo@botfleet.local", False),
)


def _password_file() -> Path:
    return Path(settings.DATA_DIR) / "demo-logins.txt"


def _stored_passwords() -> dict[str, str]:
    path = _password_file()
    if not path.exists():
        return {}
    return dict(line.split(" ", 1) for line in path.read_text().splitlines() if " " in line)


class Command(BaseCommand):
    help = "Create the demo accounts (and, as the product grows, demo bots) once; print the logins."

    def handle(self, *args, **options) -> None:
        User = get_user_model()
        passwords = _stored_passwords()
        with transaction.atomic():
            for username, email, is_staff in DEMO_ACCOUNTS:
                password = passwords.get(email) or secrets.token_urlsafe(12)
                user = User.objects.filter(email=email).first()
                if user is None:
                    User.objects.create_user(
                        email=email,
                        password=password,
                        username=username,
                        is_staff=is_staff,
                        is_superuser=is_staff,
                        is_verified=True,
                    )
                    passwords[email] = password
            self._seed_more()
        path = _password_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.writelines(f"{email} {password}\n" for email, password in passwords.items())
        self.stdout.write(f"Demo logins (also in {path}):")
        for _username, email, is_staff in DEMO_ACCOUNTS:
            if email in passwords:
                role = "staff, admin site" if is_staff else "user"
                self.stdout.write(f"  {email} / {passwords[email]}  ({role})")

    def _seed_more(self) -> None:
        """Demo bots and keys arrive with the apps that own them."""
        self._seed_demo_bots()

    def _seed_demo_bots(self) -> None:
        """Paper bots on the simulated venue (one per strategy), one on recorded candles and a
        live bot in the training bay; each created once (by name) and started."""
        from decimal import Decimal

        from bots import services as bot_services
        from bots import venues
        from bots.models import Bot

        demo = get_user_model().objects.filter(email="demo@botfleet.local").first()
        if demo is None:
            return
        # (name, venue, symbol, mode, strategy, params). "live" on the simulated venue is a
        # rehearsal that needs no keys; a live bot starts in the training bay and fills on
        # paper until promoted.
        specs = (
            ("Demo SMA BTC", "simulated", "BTC/USDT", "paper", "sma_cross", {"fast": 10, "slow": 30}),
            ("Demo RSI ETH", "simulated", "ETH/USDT", "paper", "rsi", {"period": 14, "oversold": 30, "overbought": 70}),
            ("Demo grid SOL", "simulated", "SOL/USDT", "paper", "grid", {"lower": 100, "upper": 200, "levels": 10}),
            (
                "Demo DCA ETH/BTC",
                "simulated",
                "ETH/BTC",
                "paper",
                "dca",
                {"order_pct": 0.1, "every_ticks": 5, "max_orders": 10},
            ),
            (
                "Demo replay XRP",
                "replay",
                "XRP/USDT",
                "paper",
                "dca",
                {"order_pct": 0.1, "every_ticks": 3, "max_orders": 10},
            ),
            ("Demo live BTC (training)", "simulated", "BTC/USDT", "live", "dca", {"order_pct": 0.05, "every_ticks": 5}),
        )
        existing = set(Bot.objects.of(demo).values_list("name", flat=True))
        for name, exchange, symbol, mode, strategy, params in specs:
            if name in existing:
                continue
            capital = Decimal("0.05") if symbol.endswith("/BTC") else Decimal("1000")
            bot = bot_services.bot_create(
                user=demo,
                data={
                    "name": name,
                    "exchange": exchange,
                    "symbol": symbol,
                    "strategy": strategy,
                    "params": params,
                    # A replay bot runs on its recording's candles (5m): finer ones would look ahead.
                    "timeframe": venues.default_timeframe(exchange, symbol, "1m"),
                    "interval_seconds": 60,
                    "trading_mode": mode,
                    "capital": capital,
                },
            )
            # Running from the start, so `make run` shows paper trades within a minute.
            bot_services.bot_start(user=demo, bot_id=bot.pk)
