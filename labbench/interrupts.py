"""Stop requests (Ctrl-C, SIGTERM, a step's deadline) that never cut a SCPI command or a run-file write in half.

`held()` wraps what must finish once started: sending one program message, one write to the run
file, the cleanup that leaves instruments idle. A SIGINT or SIGTERM arriving inside is recorded and
delivered again when the outermost `held()` ends, so the stop happens at the next safe point (a
pending reply is simply abandoned: the session reconnects before it speaks again). Signals are only
seen by the main thread; elsewhere `held()` does nothing.
"""
from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator

# SIGALRM too: the runner's per-step deadline must not cut a command or a write in half either
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM) + ((signal.SIGALRM,) if hasattr(signal, "SIGALRM") else ())


class _Hold:
    depth = 0
    previous: dict[int, object] = {}
    received: list[int] = []


def _record(signum, frame) -> None:
    if signum not in _Hold.received:
        _Hold.received.append(signum)


@contextmanager
def held(redeliver: bool = True) -> Iterator[list[int]]:
    """Defer SIGINT/SIGTERM until the block ends; yields the list of signals received meanwhile.

    With redeliver=False the signals are only recorded (cleanup that must run to its end whatever
    the operator presses); otherwise each is raised again, to the handler that was in place. Only
    the outermost block decides; nested blocks just extend it.
    """
    if threading.current_thread() is not threading.main_thread():
        yield []
        return
    outermost = _Hold.depth == 0
    if outermost:
        _Hold.received = []
        _Hold.previous = {}
        for signum in STOP_SIGNALS:
            try:
                _Hold.previous[signum] = signal.signal(signum, _record)
            except (ValueError, OSError):   # not installable here (embedded interpreter)
                pass
    _Hold.depth += 1
    received = _Hold.received
    try:
        yield received
    finally:
        _Hold.depth -= 1
        if outermost:
            for signum, handler in _Hold.previous.items():
                signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
            pending, _Hold.received = list(received), []
            if redeliver:
                for signum in pending:
                    signal.raise_signal(signum)
