"""Stall watchdog: a run whose training steps stop finishing is recorded as failed and its process exits.

A training step can hang forever inside native code (oneDNN's AVX2 kernels on
small channels_last convolutions hang in OpenMP, see
``tools/onednn_avx2_repro.py``), and a hung run would hold its sweep, its GPU
slot or its SLURM allocation until a human notices. The training loop calls
``heartbeat()`` after every step and evaluation batch; a daemon thread checks
that the last beat is younger than ``trainer.stall_timeout_s``. When it is
not, the watchdog writes every thread's stack to ``error.txt``, records the
run as ``failed`` with ``reason: stalled``, and ends the process with
``STALL_EXIT_CODE``: the stuck thread cannot be stopped from Python, only its
process can. A re-run resumes from the last checkpoint as after any failure.

Torch releases the GIL inside its kernels and autograd, so this Python thread
keeps running while the main thread is stuck in one of them.
"""
from __future__ import annotations

import faulthandler
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

STALL_EXIT_CODE = 75  # EX_TEMPFAIL: try again later (a re-run resumes from the checkpoint)

_active: StallWatchdog | None = None


def heartbeat() -> None:
    """Tell the active watchdog (if any) that work just progressed; costs one clock read."""
    if _active is not None:
        _active.last_beat = time.monotonic()


class StallWatchdog:
    """``with StallWatchdog(timeout_s, error_file, on_stall):`` guards the block; ``timeout_s`` None/0 disables it.

    ``on_stall(message)`` records the failure; then the process exits with ``STALL_EXIT_CODE``. It runs on the
    watchdog's thread while the main thread is stuck (and may yet move), so it must change nothing the main thread
    writes: it builds its own record from a snapshot the main thread published (``jumpnet.run.record.Published``).
    ``exit`` is replaceable for tests.
    """

    def __init__(self, timeout_s: float | None, error_file: Path, on_stall: Callable[[str], None],
                 exit: Callable[[int], None] = os._exit):
        self.timeout_s = float(timeout_s) if timeout_s else None
        self.error_file = Path(error_file)
        self.on_stall, self.exit = on_stall, exit
        self.last_beat = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> StallWatchdog:
        global _active
        if self.timeout_s is None:
            return self
        self.last_beat = time.monotonic()
        _active = self
        self._thread = threading.Thread(target=self._watch, name="stall-watchdog", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        global _active
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if _active is self:
            _active = None

    def _watch(self) -> None:
        poll = min(5.0, max(0.05, self.timeout_s / 10))
        while not self._stop.wait(poll):
            idle = time.monotonic() - self.last_beat
            if idle >= self.timeout_s:
                self._fire(idle)
                return

    def _fire(self, idle: float) -> None:
        message = (f"stalled: no training or evaluation step finished for {idle:.0f} s "
                   f"(trainer.stall_timeout_s={self.timeout_s:g}); stacks of every thread in {self.error_file}")
        try:
            with open(self.error_file, "w") as f:
                f.write(message + "\n\n")
                f.flush()
                faulthandler.dump_traceback(file=f, all_threads=True)
            log.error(message)
            self.on_stall(message)
        finally:
            logging.shutdown()
            self.exit(STALL_EXIT_CODE)
