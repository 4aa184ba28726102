"""The process layouts, read from the Procfiles, and children that never outlive their parent.

Each layout is described once, in a Procfile at the project root: ``Procfile`` for
production (a process manager runs each line, scaled as the comments say) and
``Procfile.embedded`` for ``make run`` (``config.launcher``). The launcher and the
tests (``tests/processes.py``) start exactly these command lines, so what is tested is
what runs.

The format is the usual one: ``name: command``; ``#`` starts a comment line;
``$VAR``, ``${VAR}`` and ``${VAR:-default}`` are taken from the environment; leading
``env NAME=value`` words set variables for that process only. A command starting with
``python`` runs on the interpreter reading the file, and one naming a program installed
beside it (``celery``, ``granian``) runs that copy, so a ``.venv`` needs no activation.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import re
import shlex
import signal
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
PROCFILE = BASE_DIR / "Procfile"
PROCFILE_EMBEDDED = BASE_DIR / "Procfile.embedded"

_PR_SET_PDEATHSIG = 1
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_VARIABLE = re.compile(rf"\$(?:\{{(?P<braced>{_NAME})(?::-(?P<default>[^}}]*))?\}}|(?P<bare>{_NAME}))")
_LINE = re.compile(r"^(?P<name>[A-Za-z0-9_-]+):\s*(?P<command>.+)$")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


@dataclass(frozen=True)
class ProcessSpec:
    """One line of a Procfile, ready for ``subprocess.Popen(spec.argv, env={**env, **spec.env})``."""

    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)


def _expand(text: str, env: Mapping[str, str]) -> str:
    def value(match: re.Match) -> str:
        name = match.group("braced") or match.group("bare")
        found = env.get(name, "")
        if match.group("braced") and match.group("default") is not None and not found:
            return match.group("default")
        return found

    return _VARIABLE.sub(value, text)


def _program(word: str) -> str:
    if word in ("python", "python3"):
        return sys.executable
    beside = Path(sys.executable).parent / word
    return str(beside) if "/" not in word and beside.exists() else word


def read_procfile(path: Path, env: Mapping[str, str]) -> dict[str, ProcessSpec]:
    """The processes of the Procfile at ``path``, in file order, expanded with ``env``."""
    specs: dict[str, ProcessSpec] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if not match:
            raise ValueError(f"{path.name}: not a 'name: command' line: {raw!r}")
        words = shlex.split(_expand(match.group("command"), env))
        extra: dict[str, str] = {}
        if words and words[0] == "env":
            words.pop(0)
            while words and _ASSIGNMENT.match(words[0]):
                key, _, val = words.pop(0).partition("=")
                extra[key] = val
        if not words:
            raise ValueError(f"{path.name}: {match.group('name')} has no command")
        specs[match.group("name")] = ProcessSpec(match.group("name"), [_program(words[0]), *words[1:]], extra)
    return specs


def relay_in_asgi(env: Mapping[str, str]) -> bool:
    """The setting ``RELAY_IN_ASGI`` (default: on in the embedded mode), as the launcher sees it."""
    default = "0" if env.get("DATABASE_URL") else "1"
    return env.get("RELAY_IN_ASGI", default).strip().lower() in ("1", "true", "yes", "on")


def run_layout(env: Mapping[str, str]) -> dict[str, ProcessSpec]:
    """What ``make run`` starts: ``Procfile.embedded``; its ``relay`` line only when the
    relay does not run inside the ASGI server (the services mode)."""
    specs = read_procfile(PROCFILE_EMBEDDED, env)
    if relay_in_asgi(env):
        specs.pop("relay", None)
    return specs


def die_with_parent() -> None:
    """``preexec_fn`` for ``subprocess.Popen``: SIGTERM the child when its parent dies.

    Ctrl-C and SIGTERM are handled by the launcher itself; this covers a launcher (or a
    test run) killed with SIGKILL, which would otherwise leave its servers running.
    Linux only; elsewhere a no-op.
    """
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
