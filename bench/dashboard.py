"""The dashboard in a real browser: load time, event-to-screen delay, first-load bytes.

Starts the product as ``make run`` does (embedded default, demo data) on a free port, drives
Debian's chromium through Playwright and prints one table:

1. **navigation → overview with the demo data** (the totals and the platform cards drawn),
   ``--loads`` fresh loads of ``/`` by a signed-in page; baseline: the same page's
   ``GET /api/platforms/summary`` alone, timed by the browser, so the ratio says what the
   app adds on top of the one request it cannot do without;
2. **event committed → visible**: the script starts a paper DCA bot that buys at every tick
   (ticked every second) with its page open; for ``--events`` trades, the time from its
   ``trade_executed`` event's timestamp (recorded in the fill's transaction) to the moment
   the trade's row appears on the page (same machine, same clock); baseline: a browser
   ``fetch('/api/health')`` round trip;
3. **first load bytes**: the shell, the JS modules and the CSS the overview needs, as sent
   and gzip-compressed (what a compressing proxy or ``collectstatic`` would send).

    .venv/bin/python bench/dashboard.py --loads 20 --events 20
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import sys
import time
from pathlib import Path

import httpx

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.processes import running_product  # noqa: E402


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def row(name: str, values: list[float], baseline: list[float], unit: str = "ms") -> str:
    figure, base = p95(values), p95(baseline)
    return (
        f"| {name} | p50 {statistics.median(values):.0f} / p95 {figure:.0f} {unit} | "
        f"p95 {base:.0f} {unit} | {figure / base if base else float('nan'):.1f} x |"
    )


def sign_in(page, base: str, email: str, password: str) -> None:
    page.goto(f"{base}/signin")
    page.fill("input[name=identifier]", email)
    page.fill("input[name=password]", password)
    page.click("form button[type=submit]")
    page.wait_for_selector(".card.platform")


def measure_loads(page, base: str, loads: int) -> tuple[list[float], list[float]]:
    app, bare = [], []
    for _ in range(loads):
        start = time.perf_counter()
        page.goto(f"{base}/")
        page.wait_for_selector(".card.platform[data-platform=simulated]")
        page.wait_for_selector(".tile[data-tile=bots-running]")
        app.append((time.perf_counter() - start) * 1000)
        bare.append(
            page.evaluate(
                """async () => { const t = performance.now();
                   await fetch('/api/platforms/summary', {headers: {}}); return performance.now() - t; }"""
            )
        )
    return app, bare


def measure_events(page, base: str, client: httpx.Client, events: int) -> tuple[list[float], list[float]]:
    """A DCA bot buying at every tick (ticked every second) makes the trades; the page notes when
    each trade's row appears, the event table when its trade_executed event was recorded."""
    bot = client.post(
        "bots",
        json={
            "name": "bench",
            "exchange": "simulated",
            "symbol": "BTC/USDT",
            "strategy": "dca",
            "capital": 1_000_000,
            "interval_seconds": 1,
            "params": {"every_ticks": 1, "order_pct": 0.001, "max_orders": events + 5, "take_profit_pct": 0.5},
        },
    ).json()["bot"]
    page.goto(f"{base}/bots/{bot['id']}")
    page.wait_for_selector("text=No trades yet")
    page.wait_for_selector("#conn[data-state=live]")
    page.evaluate(
        """() => { window.__seen = {};
           new MutationObserver(() => { for (const r of document.querySelectorAll('.trades-list tr[data-key]'))
             if (!(r.dataset.key in window.__seen)) window.__seen[r.dataset.key] = Date.now(); })
           .observe(document.querySelector('.trades-list'), {childList: true, subtree: true}); }"""
    )
    client.post(f"bots/{bot['id']}/start")
    deadline = time.time() + 30 + events * 15
    while page.evaluate("() => Object.keys(window.__seen).length") < events and time.time() < deadline:
        page.wait_for_timeout(500)
    client.post(f"bots/{bot['id']}/stop")
    shown = {int(k): v for k, v in page.evaluate("() => window.__seen").items()}
    delays = []
    for event in client.get(f"bots/{bot['id']}/events?page_size=500").json()["events"]:
        if event["type"] != "trade_executed":
            continue
        trade_id = event["payload"]["trade"]["id"]
        if trade_id in shown:
            committed = _epoch_ms(event["timestamp"])
            delays.append(shown[trade_id] - committed)
    baseline = [
        page.evaluate(
            "async () => { const t = performance.now(); await fetch('/api/health'); return performance.now() - t; }"
        )
        for _ in range(events)
    ]
    return delays, baseline


def _epoch_ms(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso).timestamp() * 1000


def first_load_bytes(page, base: str) -> tuple[int, int, int]:
    page.goto(f"{base}/")
    page.wait_for_selector(".card.platform")
    urls = page.evaluate(
        "() => [location.href, ...performance.getEntriesByType('resource').map(e => e.name)]"
        ".filter(u => !u.includes('/api/'))"
    )
    raw = packed = 0
    for url in dict.fromkeys(urls):
        body = httpx.get(url).content
        raw += len(body)
        packed += len(gzip.compress(body, 6))
    return len(set(urls)), raw, packed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loads", type=int, default=20)
    parser.add_argument("--events", type=int, default=20)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with running_product(services=False) as product, sync_playwright() as playwright:
        base = product.base_url
        email, password = (product.data_dir / "demo-logins.txt").read_text().splitlines()[1].split()[:2]
        token = httpx.post(f"{base}/api/auth/login", json={"email": email, "password": password}).json()["access_token"]
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        sign_in(page, base, email, password)
        loads, bare = measure_loads(page, base, args.loads)
        with httpx.Client(base_url=f"{base}/api/", headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
            seen, calls = measure_events(page, base, client, args.events)
        files, raw, packed = first_load_bytes(page, base)
        browser.close()

    print("| figure | app | baseline | ratio |")
    print("|---|---|---|---|")
    print(row(f"navigation → overview with demo data ({args.loads} loads)", loads, bare))
    print(row(f"trade event committed → its row on the bot's page ({len(seen)} trades)", seen, calls))
    print(f"| first load: {files} files (shell, modules, CSS) | {raw / 1024:.1f} KB | {packed / 1024:.1f} KB gzip | |")


if __name__ == "__main__":
    main()
