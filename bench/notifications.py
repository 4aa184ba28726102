"""Notifications benchmark (issue 21), on PostgreSQL + Redis (Redis as the Celery broker).

Runs the product's own processes (``Procfile.embedded`` on DATABASE_URL/REDIS_URL: ASGI,
relay, worker, beat) through ``tests.processes``, each phase with its own database and
its own redis-server, and a local webhook receiver that checks every signature.

1. **Latency** — one event every 0.25 s pushed through ``POST internal/events``;
   from just before the POST (so the commit is inside the figure) to the signed webhook's
   arrival, against the *same events'* arrival on an SSE stream (the realtime path the
   notification rides on: the baseline). ``NOTIFICATIONS_GROUP_SECONDS=0`` here, so each
   event is its own message (grouping would hold all but the first of a window by design).
2. **Fan-out vs ticks** — 50 paper bots ticking every second; ticks/s over a window with
   no notifications, then over a window with 1,000 events/minute for a user with 100
   webhook channels (defaults: bursts grouped per channel and type), side by side.

    .venv/bin/python bench/notifications.py [--events 80] [--window 30]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.failure.support import DCA_BOT, FLEET_ENV
from tests.fakes.notify import WebhookReceiver
from tests.processes import running_product, services_reachable, wait_until

SECRET = "bench-notifications-secret"  # noqa: S105 - the bench product's own, thrown away
BASE_ENV = {
    "INTERNAL_EVENTS_SECRET": SECRET,
    "NOTIFICATIONS_ALLOW_PRIVATE_URLS": "1",  # the receiver is on loopback
    "JWT_ACCESS_MINUTES": "60",
}
PUSHERS = 4


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] if ordered else float("nan")


def push(http: httpx.Client, user_id: int, n: int, sent_at: float) -> None:
    body = json.dumps(
        {"user_id": user_id, "type": "trade_executed", "payload": {"trade": {"n": n, "t": sent_at}, "bot_id": 1}}
    ).encode()
    timestamp = str(int(time.time()))
    signature = "v1=" + hmac.new(SECRET.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    response = http.post(
        "internal/events",
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-Botfleet-Timestamp": timestamp,
            "X-Botfleet-Signature": signature,
        },
    )
    response.raise_for_status()


def register(http: httpx.Client, tag: str) -> tuple[int, dict]:
    response = http.post(
        "auth/register", json={"email": f"{tag}-{time.time_ns()}@example.com", "password": "bench-long-passphrase-9"}
    )
    response.raise_for_status()
    body = response.json()
    return body["user"]["id"], {"Authorization": f"Bearer {body['access_token']}"}


def webhook(http: httpx.Client, auth: dict, receiver: WebhookReceiver, path: str) -> None:
    response = http.post(
        "notifications/channels",
        json={"kind": "webhook", "url": receiver.url + path, "events": ["trade_executed"]},
        headers=auth,
    )
    response.raise_for_status()
    receiver.secrets[path] = response.json()["secret"]


def sse_listener(base_url: str, token: str, arrivals: dict, stop: threading.Event) -> None:
    url = f"{base_url}/api/realtime/events"
    try:
        with httpx.stream("GET", url, params={"token": token}, timeout=None) as stream:  # noqa: S113 - a stream
            for line in stream.iter_lines():
                if stop.is_set():
                    return
                if line.startswith("data:") and '"trade_executed"' in line:
                    event = json.loads(line[5:])
                    arrivals.setdefault(event["trade"]["n"], time.time())
    except httpx.HTTPError:
        return  # the product stopped under the stream


# -- phase 1 ---------------------------------------------------------------------------------
def latency(events: int) -> dict:
    receiver = WebhookReceiver().start()
    env = {**BASE_ENV, "NOTIFICATIONS_GROUP_SECONDS": "0", "ENABLE_SCHEDULERS": "0"}
    try:
        with (
            running_product(services=True, extra_env=env) as product,
            httpx.Client(base_url=f"{product.base_url}/api/", timeout=30) as http,
        ):
            user_id, auth = register(http, "lat")
            webhook(http, auth, receiver, "/hook")
            wait_until(
                lambda: product.query("SELECT COUNT(*) FROM notifications_fanoutstate")[0][0] == 1,
                timeout=60,
                what="the first sweep",
            )
            sse: dict[int, float] = {}
            stop = threading.Event()
            listener = threading.Thread(
                target=sse_listener,
                args=(product.base_url, auth["Authorization"].split()[1], sse, stop),
                daemon=True,
            )
            listener.start()
            time.sleep(2)  # the stream is open before the first event
            sent: dict[int, float] = {}
            for n in range(events):
                sent[n] = time.time()
                push(http, user_id, n, sent[n])
                time.sleep(0.25)
            receiver.wait_for(events, timeout=60)
            wait_until(lambda: len(sse) >= events, timeout=30, what="every SSE event")
            stop.set()
    finally:
        receiver.stop()
    hook = {got["body"]["events"][0]["trade"]["n"]: got["at"] for got in receiver.received}
    webhook_s = [hook[n] - sent[n] for n in sent if n in hook]
    sse_s = [sse[n] - sent[n] for n in sent if n in sse]
    return {"webhook": webhook_s, "sse": sse_s, "lost": events - len(hook), "bad": len(receiver.bad_signatures)}


# -- phase 2 ---------------------------------------------------------------------------------
def ticks(product) -> int:
    return int(product.query("SELECT COALESCE(SUM(tick_count), 0) FROM bots_bot")[0][0])


def tick_rate(product, during) -> float:
    start, began = ticks(product), time.monotonic()
    during()
    return (ticks(product) - start) / (time.monotonic() - began)


def pace(http: httpx.Client, user_id: int, window: float, per_minute: int, first: int) -> int:
    """Push ``per_minute`` events a minute for ``window`` seconds; returns how many.

    On a few threads: one at a time, a loaded machine (200 ms a POST) held the rate at a
    third of the goal."""
    n, gap, began = 0, 60.0 / per_minute, time.monotonic()
    with ThreadPoolExecutor(max_workers=PUSHERS) as pool:
        pushed = []
        while time.monotonic() - began < window:
            pushed.append(pool.submit(push, http, user_id, first + n, time.time()))
            n += 1
            time.sleep(max(0.0, began + n * gap - time.monotonic()))
        for result in pushed:
            result.result()
    return n


def fanout(window: float, bots: int, channels: int, per_minute: int) -> dict:
    receiver = WebhookReceiver().start()
    env = {**BASE_ENV, **FLEET_ENV, "ENABLE_SCHEDULERS": "1", "NOTIFICATIONS_MAX_CHANNELS": str(channels)}
    try:
        with (
            running_product(services=True, extra_env=env) as product,
            httpx.Client(base_url=f"{product.base_url}/api/", timeout=30) as http,
        ):
            _, owner = register(http, "fleet")
            for i in range(bots):
                created = http.post("bots", json={**DCA_BOT, "name": f"B{i}"}, headers=owner)
                created.raise_for_status()
                started = http.post(f"bots/{created.json()['bot']['id']}/start", headers=owner)
                started.raise_for_status()
            user_id, auth = register(http, "fan")
            time.sleep(10)  # the fleet settles into its rhythm
            idle = tick_rate(product, lambda: time.sleep(window))
            # The same events with no channel anywhere (the events' own cost), then with 100.
            without = tick_rate(product, lambda: pace(http, user_id, window, per_minute, 0))
            for i in range(channels):
                webhook(http, auth, receiver, f"/hook/{i}")
            sent: list[int] = []
            with_load = tick_rate(product, lambda: sent.append(pace(http, user_id, window, per_minute, 100_000)))
            n = sent[0]
            time.sleep(5)
            delivered = product.query("SELECT COUNT(*) FROM notifications_delivery WHERE status = 'delivered'")[0][0]
            total = product.query("SELECT COUNT(*) FROM notifications_delivery")[0][0]
    finally:
        receiver.stop()
    return {
        "idle": idle,
        "without": without,
        "with": with_load,
        "events": n,
        "deliveries": total,
        "delivered": delivered,
        "requests": len(receiver.received),
        "bad": len(receiver.bad_signatures),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=80)
    parser.add_argument("--window", type=float, default=30.0)
    parser.add_argument("--bots", type=int, default=50)
    parser.add_argument("--channels", type=int, default=100)
    parser.add_argument("--per-minute", type=int, default=1000)
    args = parser.parse_args()
    if not services_reachable():
        sys.exit("needs PostgreSQL on 127.0.0.1:5432 and redis-server on PATH")
    lat = latency(args.events)
    fan = fanout(args.window, args.bots, args.channels, args.per_minute)
    hook_ms = [s * 1000 for s in lat["webhook"]]
    sse_ms = [s * 1000 for s in lat["sse"]]
    print()
    print("| figure | measured | baseline | ratio | goal |")
    print("|---|---|---|---|---|")
    print(
        f"| event committed → webhook received (Redis broker), {len(hook_ms)} events | "
        f"p50 {pct(hook_ms, 50):.0f} ms, p95 {pct(hook_ms, 95):.0f} ms, max {max(hook_ms):.0f} ms | "
        f"same events over SSE: p50 {pct(sse_ms, 50):.0f} ms, p95 {pct(sse_ms, 95):.0f} ms | "
        f"{pct(hook_ms, 95) / pct(sse_ms, 95):.1f} × | "
        f"p95 < 2,000 ms; lost {lat['lost']}, bad signatures {lat['bad']} |"
    )
    print(
        f"| ticks/s, {args.bots} bots at 1 s, {args.per_minute} events/min fanned to {args.channels} webhooks | "
        f"{fan['with']:.1f} ticks/s | the same events, no channel: {fan['without']:.1f} ticks/s "
        f"(no events: {fan['idle']:.1f}) | "
        f"{fan['with'] / max(fan['without'], 1e-9):.2f} × | ≈ 1.0 × |"
    )
    print(
        f"| fan-out | {fan['events']} events ({fan['events'] * 60 / args.window:.0f}/min) → "
        f"{fan['deliveries']} deliveries ({fan['delivered']} delivered, "
        f"{fan['requests']} requests received) | {fan['events'] * args.channels} without grouping | "
        f"{fan['deliveries'] / max(1, fan['events'] * args.channels):.3f} × | bad signatures {fan['bad']} |"
    )


if __name__ == "__main__":
    main()
