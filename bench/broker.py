"""The embedded broker: concurrent producers, one consumer, every message accounted for.

    .venv/bin/python bench/broker.py [--producers 4] [--messages 2500] [--size 1500]

For each transport (kombu's filesystem transport — the baseline —, ``config.broker``'s
write-then-rename transport, and kombu's SQLAlchemy transport on a SQLite file), in a
fresh temporary folder: ``--producers`` processes each publish ``--messages`` messages
of about ``--size`` bytes (a Celery task message is ~1.5 KB) while one consumer drains
the queue through kombu. Prints messages per second end to end, the consumer's read
errors (a torn message: the stock transport's worker dies on the first), and messages
lost or duplicated; the ratio column compares with the baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

QUEUE = "bench"
TRANSPORTS = ("filesystem", "atomic", "sqlalchemy")


def connection(kind: str, folder: Path):
    from kombu import Connection

    if kind == "sqlalchemy":
        conn = Connection(f"sqla+sqlite:///{folder / 'broker.sqlite3'}")
        conn.transport.polling_interval = 0.05  # its options go to create_engine()
        return conn
    options = {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "processed_folder": str(folder / "processed"),
        "control_folder": str(folder / "control"),
        "store_processed": False,
        "polling_interval": 0.05,
    }
    for key in ("data_folder_in", "processed_folder", "control_folder"):
        Path(options[key]).mkdir(parents=True, exist_ok=True)
    transport = "config.broker:Transport" if kind == "atomic" else None
    return Connection("filesystem://", transport=transport, transport_options=options)


def produce(kind: str, folder: Path, producer: int, messages: int, size: int) -> None:
    with connection(kind, folder) as conn:
        queue = conn.SimpleQueue(QUEUE)
        pad = "x" * size
        for n in range(messages):
            queue.put({"producer": producer, "n": n, "pad": pad}, retry=True)
        queue.close()


def run(kind: str, producers: int, messages: int, size: int, deadline: float) -> dict:
    folder = Path(tempfile.mkdtemp(prefix=f"bench-broker-{kind}-"))
    expected = producers * messages
    seen: set[tuple[int, int]] = set()
    duplicates = errors = 0
    try:
        with connection(kind, folder) as conn:
            queue = conn.SimpleQueue(QUEUE)  # declared before anyone publishes
            started = time.monotonic()
            children = [
                subprocess.Popen(
                    [sys.executable, __file__, "--produce", kind, str(folder), str(p), str(messages), str(size)]
                )
                for p in range(producers)
            ]
            while len(seen) < expected and time.monotonic() - started < deadline:
                try:
                    message = queue.get(block=True, timeout=1)
                except queue.Empty:
                    if all(child.poll() is not None for child in children) and len(seen) >= expected:
                        break
                    continue
                except Exception:  # a torn message: what stops the stock worker
                    errors += 1
                    continue
                key = (message.payload["producer"], message.payload["n"])
                if key in seen:
                    duplicates += 1
                seen.add(key)
                message.ack()
            elapsed = time.monotonic() - started
            for child in children:
                child.wait(timeout=60)
            queue.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {
        "transport": kind,
        "messages": expected,
        "seconds": round(elapsed, 2),
        "per_second": round(len(seen) / elapsed) if elapsed else 0,
        "read_errors": errors,
        "lost": expected - len(seen),
        "duplicates": duplicates,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--producers", type=int, default=4)
    parser.add_argument("--messages", type=int, default=2500, help="per producer")
    parser.add_argument("--size", type=int, default=1500)
    parser.add_argument("--deadline", type=float, default=180.0, help="seconds per transport")
    parser.add_argument("--transports", default=",".join(TRANSPORTS))
    parser.add_argument("--produce", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.produce:
        kind, folder, producer, messages, size = args.produce
        produce(kind, Path(folder), int(producer), int(messages), int(size))
        return
    rows = [run(kind, args.producers, args.messages, args.size, args.deadline) for kind in args.transports.split(",")]
    baseline = next((r for r in rows if r["transport"] == "filesystem"), rows[0])
    print(
        f"\n{args.producers} producers × {args.messages} messages of ~{args.size} B, "
        f"one consumer ({os.cpu_count()} cores)"
    )
    print("| transport | messages | seconds | msg/s | × filesystem | read errors | lost | duplicates |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        ratio = r["per_second"] / baseline["per_second"] if baseline["per_second"] else float("nan")
        print(
            f"| {r['transport']} | {r['messages']} | {r['seconds']} | {r['per_second']} | {ratio:.2f} | "
            f"{r['read_errors']} | {r['lost']} | {r['duplicates']} |"
        )


if __name__ == "__main__":
    main()
