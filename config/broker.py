"""The embedded mode's Celery broker: kombu's filesystem transport, made tear-proof.

kombu's own filesystem transport creates each message file under its final name and
then writes it, so a consumer listing the folder at that moment reads an empty or
half-written file (``JSONDecodeError``) and the worker stops with "Unrecoverable
error". It also "claims" a message by ``shutil.move`` into the system temp folder,
which is a copy when that folder is on another file system, and lists and sorts the
whole folder for every single message (quadratic in the backlog).

Here a message is written under a hidden temporary name and published with
``os.rename`` (atomic within one folder: a consumer sees the whole file or none);
a consumer claims it with ``os.rename`` into a ``claimed`` folder beside it (atomic
too, so two consumers can never both take it; a message whose consumer died before
reading it is put back) and keeps one sorted listing until it is used up. A file that
still cannot be decoded (a disk that lost data in a power cut) is set aside in
``corrupt/`` and logged, never allowed to stop the worker: a lost tick is re-dispatched
by beat (DESIGN.md "How a bot trades").

``bench/broker.py`` measures it against the stock transport and kombu's SQLAlchemy
transport on SQLite.
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from queue import Empty
from time import time_ns

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads

logger = logging.getLogger("botfleet.broker")

_TMP_PREFIX = ".tmp-"


class Channel(filesystem.Channel):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._listing: dict[str, list[str]] = {}

    def _put(self, queue, payload, **kwargs):
        # Wall-clock nanoseconds: unlike kombu's monotonic milliseconds they order
        # messages of different processes (and across a reboot) by when they were sent.
        name = f"{time_ns():020d}_{uuid.uuid4().hex}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        temporary = os.path.join(self.data_folder_out, _TMP_PREFIX + name)
        try:
            with open(temporary, "wb") as handle:
                handle.write(str_to_bytes(dumps(payload)))
            os.rename(temporary, final)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise ChannelError(f"Cannot add a message to {self.data_folder_out!r}") from exc

    def _sibling_folder(self, name: str) -> str:
        """A folder beside the queue folder: on the same file system, so a rename is atomic."""
        folder = os.path.join(os.path.dirname(os.path.normpath(self.data_folder_in)), name)
        os.makedirs(folder, exist_ok=True)
        return folder

    def _requeue_orphans(self) -> None:
        """Put back messages claimed by a consumer that died before reading them.

        A claimed file still exists only if its consumer never returned it (it is
        deleted before the message is handed over), so requeueing cannot deliver twice.
        """
        claimed = self._sibling_folder("claimed")
        for name in os.listdir(claimed):
            pid, _, original = name.partition("-")
            if not pid.isdigit() or _alive(int(pid)):
                continue
            with contextlib.suppress(FileNotFoundError):
                os.rename(os.path.join(claimed, name), os.path.join(self.data_folder_in, original))
                logger.warning("Broker message %s requeued: its consumer (pid %s) died holding it", original, pid)

    def _next_name(self, queue: str) -> str | None:
        pending = self._listing.get(queue)
        if not pending:
            self._requeue_orphans()
            suffix = f".{queue}.msg"
            pending = sorted(
                (n for n in os.listdir(self.data_folder_in) if n.endswith(suffix) and not n.startswith(".")),
                reverse=True,  # pop() from the end takes the oldest
            )
            self._listing[queue] = pending
        return pending.pop() if pending else None

    def _get(self, queue):
        claimed = self._sibling_folder("claimed")
        while (name := self._next_name(queue)) is not None:
            if name.partition(".")[2] != f"{queue}.msg":
                continue  # another queue whose name ends like this one
            target = os.path.join(claimed, f"{os.getpid()}-{name}")
            try:
                os.rename(os.path.join(self.data_folder_in, name), target)
            except FileNotFoundError:
                continue  # another consumer took it first
            except OSError as exc:
                raise ChannelError(f"Cannot claim {name!r}") from exc
            try:
                with open(target, "rb") as handle:
                    payload = handle.read()
                os.unlink(target)
            except OSError as exc:
                raise ChannelError(f"Cannot read {target!r}") from exc
            try:
                return loads(bytes_to_str(payload))
            except ValueError:
                self._set_aside(name, payload)
        raise Empty()

    def _set_aside(self, name: str, payload: bytes) -> None:
        folder = self._sibling_folder("corrupt")
        with open(os.path.join(folder, name), "wb") as handle:
            handle.write(payload)
        logger.error("Broker message %s could not be decoded (%d bytes); set aside in %s", name, len(payload), folder)

    def _purge(self, queue):
        self._listing.pop(queue, None)
        return super()._purge(queue)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Transport(filesystem.Transport):
    """Also an *asynchronous* transport: it polls its folder on a timer of the worker's
    event loop instead of sleeping in a blocking loop.

    That decides which pool Celery gives the worker. For a blocking transport it is
    billiard's classic pool, whose children share one inbound queue guarded by a
    semaphore: a child killed while holding it (``kill -9``, the OOM killer) never
    releases it, and every child after it waits on it forever — the worker stalls for
    good while its heartbeat thread keeps saying "online", and a warm shutdown waits on
    the lost job. On an event loop Celery uses its ``AsynPool`` (what the Redis broker
    gets), with one queue per child, which replaces a killed child and fails its job.
    """

    Channel = Channel
    driver_type = "filesystem"
    driver_name = "botfleet-filesystem"
    implements = filesystem.Transport.implements.extend(asynchronous=True)
    # Messages delivered per timer tick at most, so the loop keeps serving the pool.
    POLL_BATCH = 100

    def register_with_event_loop(self, connection, loop):
        loop.call_repeatedly(self.polling_interval or 0.1, self._poll_ready, connection)

    def _poll_ready(self, connection) -> None:
        for _ in range(self.POLL_BATCH):
            try:
                self.cycle.get(self._deliver, timeout=0)
            except Empty:
                return
