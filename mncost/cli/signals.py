"""Signals that end mncost: Ctrl-C (SIGINT), SIGTERM and SIGHUP, all alike.

Each raises a :class:`KeyboardInterrupt` where it lands (SIGTERM and SIGHUP an
:class:`Interrupted`, which is one), so every cleanup of Ctrl-C holds for all three: a file
being written loses its temporary file, a ``--latency`` sweep keeps the rows it measured. The
exit status is 128 + the signal's number, as shells report it (130, 143, 129).

:class:`SignalGuard` is for a command that must finish a write once it has been told to stop
(a sweep's partial rows): while it records, a signal is noted, not raised.
"""

from __future__ import annotations

import signal
from typing import Any

#: The signals that end mncost (SIGHUP where the platform has it).
ENDING = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP")
               if hasattr(signal, name))


class Interrupted(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised like Ctrl-C's KeyboardInterrupt."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def signal_of(exc: BaseException) -> int:
    """The signal a KeyboardInterrupt stands for (SIGINT unless an :class:`Interrupted`)."""
    return getattr(exc, "signum", signal.SIGINT)


def exit_status(signum: int) -> int:
    return 128 + int(signum)


def describe(signum: int) -> str:
    """``interrupted`` for Ctrl-C; ``terminated (SIGTERM)``, ``hung up (SIGHUP)``."""
    if signum == signal.SIGINT:
        return "interrupted"
    name = signal.Signals(signum).name
    return f"{'hung up' if name == 'SIGHUP' else 'terminated'} ({name})"


def raise_interrupted(signum: int, frame: Any) -> None:
    """The handler of SIGTERM and SIGHUP (SIGINT keeps Python's own)."""
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Interrupted(signum)


class SignalGuard:
    """Handlers for :data:`ENDING` that raise while :attr:`raising` is set and otherwise note
    the signal (the first one is kept in :attr:`signum`) for the command to act on when its
    write is done. Installed from the main thread only (elsewhere it does nothing)."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.raising = True
        self._before: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum is None:
            self.signum = signum
        if self.raising:
            raise_interrupted(signum, frame)

    def __enter__(self) -> "SignalGuard":
        try:
            for signum in ENDING:
                self._before[signum] = signal.signal(signum, self._handle)
        except ValueError:   # not the main thread: signals go to the handlers already set
            self.__exit__(None, None, None)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._before.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        self._before.clear()
