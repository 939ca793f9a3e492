"""SIGTERM, what ``timeout``, ``docker stop``, ``kill`` and many schedulers send, recorded like Ctrl-C.

While an attempt trains, :func:`sigterm_recorded` turns SIGTERM into :class:`jumpnet.errors.Terminated` (a
``KeyboardInterrupt``), so the attempt records ``interrupted`` with the epochs its checkpoint holds. Then
:func:`chain` hands the signal to the handler that was installed before (submitit's, which logs it and leaves
requeueing to its own signal), and the exception travels on: ``jumpnet.errors.run_cli`` ends the process by the
same signal, so its exit status says SIGTERM (143 in a shell), as if nothing had caught it; where no ``run_cli``
is above the run (a submitit job's own process), the interpreter's last word on an uncaught exception
(``sys.excepthook``) does the same for ``Terminated``. A SIGTERM that someone set to be ignored stays ignored, and
a forked child (a DataLoader worker) that inherits the handler dies of the signal as it would have.
"""
from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from jumpnet.errors import Terminated, exit_by_signal

log = logging.getLogger(__name__)


def _end_by_signal_when_uncaught() -> None:
    """Wrap ``sys.excepthook`` (once): an uncaught Terminated ends the process by its signal, without a traceback;
    every other exception goes to the hook that was there."""
    earlier = sys.excepthook
    if getattr(earlier, "ends_by_signal", False):
        return

    def hook(kind: type[BaseException], value: BaseException, tb: Any) -> None:
        if isinstance(value, Terminated):
            exit_by_signal(value.signum)
        earlier(kind, value, tb)

    hook.ends_by_signal = True  # type: ignore[attr-defined]
    sys.excepthook = hook


@contextmanager
def sigterm_recorded() -> Iterator[None]:
    """SIGTERM raises Terminated in this process's main thread while the block runs; the earlier handler after."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may install handlers (and receives signals)
        return
    previous = signal.getsignal(signal.SIGTERM)
    if previous == signal.SIG_IGN:
        yield
        return
    owner = os.getpid()

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        if os.getpid() != owner:  # a forked child: die of the signal, as without this handler
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        raise Terminated(signum, previous)

    _end_by_signal_when_uncaught()
    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def chain(err: Terminated) -> None:
    """Call the handler that was installed before ours (a Python function: submitit's), once the record is written."""
    handler: Any = err.previous
    if callable(handler):
        log.info(f"Passing {signal.Signals(err.signum).name} on to the handler installed before ({handler!r})")
        handler(err.signum, None)
