"""The bot state machine: the one table services, ``can_*`` flags and the engine read.

API.md "bots":

=========  ========  =================  ========  =======
from       start     pause              resume    stop
=========  ========  =================  ========  =======
stopped    running   409                409       409
running    409       paused             409       stopped
paused     409 (*)   409                running   stopped
error      running   409                409       stopped
=========  ========  =================  ========  =======

(*) "use resume". A force-paused bot's owner gets 423 on start and resume; stop is allowed.
Staff force-pause a bot from any status (a running or erroring bot becomes paused) and
release it without changing its status (``FORCE_PAUSED_STATUS``).
"""

from __future__ import annotations

from enum import StrEnum


class Action(StrEnum):
    START = "start"
    PAUSE = "pause"
    RESUME = "resume"
    STOP = "stop"


STOPPED, RUNNING, PAUSED, ERROR = "stopped", "running", "paused", "error"

# action -> {from_status: to_status}. Anything absent is refused with a reason.
TRANSITIONS: dict[Action, dict[str, str]] = {
    Action.START: {STOPPED: RUNNING, ERROR: RUNNING},
    Action.PAUSE: {RUNNING: PAUSED},
    Action.RESUME: {PAUSED: RUNNING},
    Action.STOP: {RUNNING: STOPPED, PAUSED: STOPPED, ERROR: STOPPED},
}

# Why a refused (status, action) pair is refused: the 409 message.
REFUSALS: dict[tuple[str, Action], str] = {
    (RUNNING, Action.START): "the bot is already running",
    (PAUSED, Action.START): "the bot is paused; use resume",
    (STOPPED, Action.PAUSE): "the bot is stopped; only a running bot can be paused",
    (PAUSED, Action.PAUSE): "the bot is already paused",
    (ERROR, Action.PAUSE): "the bot is in error; only a running bot can be paused",
    (STOPPED, Action.RESUME): "the bot is stopped; use start",
    (RUNNING, Action.RESUME): "the bot is already running",
    (ERROR, Action.RESUME): "the bot is in error; use start",
    (STOPPED, Action.STOP): "the bot is already stopped",
}

# Actions a force-paused bot's owner may not take (423 until staff release it).
FORCE_PAUSE_BLOCKS = frozenset({Action.START, Action.RESUME})

# A staff force-pause: a ticking bot becomes paused; a paused or stopped bot keeps its status.
FORCE_PAUSED_STATUS = {RUNNING: PAUSED, ERROR: PAUSED}

# Past tense for messages and event names (bot_started, ...).
PAST = {Action.START: "started", Action.PAUSE: "paused", Action.RESUME: "resumed", Action.STOP: "stopped"}


class TransitionRefused(Exception):
    def __init__(self, action: Action, status: str, reason: str, *, locked: bool = False):
        super().__init__(reason)
        self.action, self.status, self.reason, self.locked = action, status, reason, locked


def target(status: str, action: Action | str, *, force_paused: bool = False) -> str:
    """The status ``action`` leads to from ``status``, or raise ``TransitionRefused``."""
    action = Action(action)
    if force_paused and action in FORCE_PAUSE_BLOCKS:
        raise TransitionRefused(
            action, status, "the bot was paused by staff; it can be stopped but not started or resumed", locked=True
        )
    to = TRANSITIONS[action].get(status)
    if to is None:
        raise TransitionRefused(action, status, REFUSALS.get((status, action), f"cannot {action} a {status} bot"))
    return to


def allowed(status: str, action: Action | str, *, force_paused: bool = False) -> bool:
    if force_paused and Action(action) in FORCE_PAUSE_BLOCKS:
        return False
    return status in TRANSITIONS[Action(action)]


def can_flags(status: str, force_paused: bool) -> dict[str, bool]:
    """``can_start``, ``can_pause``, ``can_resume``, ``can_stop`` for a bot's representation."""
    return {f"can_{action}": allowed(status, action, force_paused=force_paused) for action in Action}
