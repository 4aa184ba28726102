"""One statement, prepared once per connection, run through libpq itself (``psycopg.pq``).

Every authenticated request runs one query (accounts/authentication.py). Through a
psycopg cursor, a prepared execution still costs about 100 µs of Python per request
on the development machine (query conversion, the prepare manager's bookkeeping,
the generator driving the non-blocking protocol, the result set-up); calling
``PQexecPrepared`` directly and loading the one row with the connection's own
adapters costs about 60, and about 100 µs less inside a whole request. libpq
releases the GIL while it waits, like psycopg's own wait does.

Only the per-request read uses this; everything else goes through Django's cursor.
One difference from it: inside an ``atomic()`` block whose first query this is,
psycopg has not sent its ``BEGIN`` yet, so the read runs in a transaction of its own.
Under READ COMMITTED (Django's default, and ours) it sees the same rows either way.
"""

from __future__ import annotations

import itertools
import re
import weakref
from dataclasses import dataclass, field

import psycopg
from psycopg import pq
from psycopg.adapt import Transformer

_PLACEHOLDER = re.compile(r"%%|%s")
_STALE_STATEMENT = {
    "26000",  # invalid_sql_statement_name: "prepared statement ... does not exist"
    "0A000",  # feature_not_supported: "cached plan must not change result type"
}
_STATEMENT_NUMBERS = itertools.count(1)


def numbered_placeholders(sql: str) -> str:
    """Django's ``%s`` placeholders (and ``%%`` escapes) as PostgreSQL's ``$1, $2, ...``."""
    counter = itertools.count(1)
    return _PLACEHOLDER.sub(lambda match: "%" if match.group() == "%%" else f"${next(counter)}", sql)


def _text_parameter(value) -> bytes:
    # Sent in text format: the server parses each one as the type it inferred when
    # preparing. libpq passes text parameters as C strings, so a NUL would cut the
    # value short instead of failing: refused here, as is text UTF-8 cannot encode.
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"only int and str parameters are supported, not {type(value).__name__}")
    text = str(value)
    if "\x00" in text:
        raise ValueError("a parameter contains a NUL character")
    return text.encode()  # UnicodeEncodeError (a ValueError) for a lone surrogate


@dataclass
class _Session:
    """What one server connection has prepared.

    Nothing here may refer to the psycopg connection itself (a ``Transformer`` does):
    it is the weak key, and a connection nobody closes explicitly (a thread's, when the
    thread ends) is closed by being collected.
    """

    pgconn: pq.abc.PGconn
    encoding: str
    names: dict[str, bytes] = field(default_factory=dict)


# Per psycopg connection, not per Django connection: with a pool (DATABASE_POOL, the
# ASGI processes) a Django connection holds a different server connection from one
# request to the next, and what each has prepared must follow it, or it would be
# prepared again under a new name every time (statements piling up on the server).
_SESSIONS: weakref.WeakKeyDictionary[psycopg.Connection, _Session] = weakref.WeakKeyDictionary()


def _session(connection) -> _Session:
    raw = connection.connection
    session = _SESSIONS.get(raw)
    if session is None or session.pgconn is not raw.pgconn:
        session = _SESSIONS[raw] = _Session(raw.pgconn, raw.info.encoding)
    return session


def fetch_one(connection, sql: str, params: list) -> tuple | None:
    """The first row of ``sql`` (Django's placeholders), prepared on first use per connection.

    ``connection`` is Django's PostgreSQL (psycopg 3) connection, already open; errors
    come out as Django's database exceptions, and mark the connection as Django's
    cursor would, so a broken connection is replaced at the next request.
    """
    values = [_text_parameter(value) for value in params]
    raw = connection.connection
    session = _session(connection)
    with connection.wrap_database_errors, raw.lock:
        result = _execute(session, sql, values)
        if result.ntuples == 0:
            return None
        transformer = Transformer(raw)  # the connection's adapters, as its cursors load with
        transformer.set_pgresult(result)
        return transformer.load_row(0, tuple)


def _execute(session: _Session, sql: str, values: list[bytes]) -> pq.abc.PGresult:
    name = session.names.get(sql) or _prepare(session, sql)
    result = session.pgconn.exec_prepared(name, values, None, pq.Format.BINARY)
    if result.status == pq.ExecStatus.TUPLES_OK:
        return result
    # A statement that failed is not used again: it may be gone (DISCARD ALL, a pooler's
    # reset) or stale (a migration changed a column it returns: "cached plan must not
    # change result type"), and every later request would fail the same way.
    session.names.pop(sql, None)
    if _sqlstate(result) in _STALE_STATEMENT and session.pgconn.transaction_status == pq.TransactionStatus.IDLE:
        # Outside a transaction nothing was aborted: prepare it afresh and run it once more.
        result = session.pgconn.exec_prepared(_prepare(session, sql), values, None, pq.Format.BINARY)
        if result.status == pq.ExecStatus.TUPLES_OK:
            return result
    raise _error(session, result)


def _prepare(session: _Session, sql: str) -> bytes:
    # A name never used before in this process: a failed PREPARE (a duplicate name)
    # would abort the transaction the request may be in.
    name = f"botfleet_{next(_STATEMENT_NUMBERS)}".encode()
    result = session.pgconn.prepare(name, numbered_placeholders(sql).encode(), None)
    if result.status != pq.ExecStatus.COMMAND_OK:
        raise _error(session, result)
    session.names[sql] = name
    return name


def _sqlstate(result: pq.abc.PGresult) -> str:
    return (result.error_field(pq.DiagnosticField.SQLSTATE) or b"").decode()


def _error(session: _Session, result: pq.abc.PGresult) -> psycopg.Error:
    if _sqlstate(result):  # psycopg's class for the code (or for its class of codes)
        return psycopg.errors.error_from_result(result, encoding=session.encoding)
    # No SQLSTATE: the connection itself failed (closed by the server, network gone).
    message = result.error_message or session.pgconn.error_message or b"query failed"
    message = message.decode(session.encoding, errors="replace").strip()
    return psycopg.OperationalError(message, info=result)
