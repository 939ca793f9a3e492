"""Run each section in a child process under a time cap and the whole check's budget.

A child is forked (it inherits the imported modules, so it starts in
milliseconds), leads its own process group (so compile workers and concurrent
trainings it starts die with it), and sends its result back through a pipe. A
section that raises is ``failed`` with its error; one that outlives its cap is
killed and ``timed out``; one that dies (a CUDA fault, out of memory) is
``crashed``; one that would not fit in the budget left is ``skipped``. Either
way the next section runs: one broken measurement never costs the others.

The parent process never touches CUDA or runs torch kernels, so forking is
safe; every child initializes its own CUDA context.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

FORK = mp.get_context("fork")


@dataclass
class Outcome:
    name: str
    status: str                  # ok | failed | timed out | crashed | skipped
    seconds: float = 0.0
    cap_s: float | None = None
    result: dict | None = None
    error: str | None = None
    extra: dict = field(default_factory=dict)

    def record(self) -> dict:
        return {"name": self.name, "status": self.status, "seconds": round(self.seconds, 2), "cap_s": self.cap_s,
                "error": self.error, "result": self.result}


def _child(fn: Callable[..., dict], kwargs: dict, conn) -> None:
    os.setpgrp()  # our own group: the parent can end us and whatever we started in one kill
    try:
        conn.send(("ok", fn(**kwargs)))
    except BaseException as err:  # report every failure to the parent, which decides what it means
        tail = "".join(traceback.format_exception(err)[-3:]).strip()
        conn.send(("failed", f"{type(err).__name__}: {err}\n{tail}"))
    finally:
        conn.close()


def kill_group(proc) -> None:
    """End a child and everything in its process group (it leads the group it made)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()


def run_in_child(name: str, fn: Callable[..., dict], kwargs: dict, cap_s: float) -> Outcome:
    """``fn(**kwargs)`` in a forked child, at most ``cap_s`` seconds."""
    started = time.perf_counter()
    recv, send = FORK.Pipe(duplex=False)
    proc = FORK.Process(target=_child, args=(fn, kwargs, send), name=f"gpucheck-{name}")
    proc.start()
    send.close()
    try:
        if recv.poll(cap_s):
            status, payload = recv.recv()
        else:
            status, payload = "timed out", f"still running after its cap of {cap_s:.0f} s; stopped"
    except EOFError:
        proc.join(5)
        status, payload = "crashed", f"the section's process died (exit code {proc.exitcode})"
    finally:
        kill_group(proc)  # a finished child's leftovers too (compile workers, stray trainings)
        proc.join(10)
        recv.close()
    seconds = time.perf_counter() - started
    if status == "ok":
        return Outcome(name, "ok", seconds, cap_s, result=payload)
    return Outcome(name, status, seconds, cap_s, error=str(payload))


class Budget:
    """The check's total time: each section gets ``min(its cap, what is left)``, or is skipped."""

    def __init__(self, seconds: float):
        self.seconds = float(seconds)
        self.started = time.perf_counter()

    def left(self) -> float:
        return self.seconds - (time.perf_counter() - self.started)

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def run(self, name: str, fn: Callable[..., dict], kwargs: dict, cap_s: float, min_s: float) -> Outcome:
        left = self.left()
        if left < min_s:
            why = f"{max(0.0, left):.0f} s of the {self.seconds:.0f} s budget left; it needs {min_s:.0f} s"
            return Outcome(name, "skipped", 0.0, cap_s, error=why)
        return run_in_child(name, fn, kwargs, min(cap_s, left))


def run_all(sections: list[tuple[str, Callable[..., dict], Callable[[dict], dict]]], profile: dict,
            on_done: Callable[[Outcome, dict], Any]) -> dict[str, Outcome]:
    """Run ``(name, fn, kwargs_from_results)`` in order; ``on_done`` sees each outcome as it comes
    and stops the check by returning True.

    The parent never initializes CUDA itself (even ``torch.cuda.is_available()``
    would, and a forked child could then not use the GPU): the ``env`` section,
    first, finds out in a child whether the device opens.
    """
    budget = Budget(profile["budget_s"])
    outcomes: dict[str, Outcome] = {}
    for name, fn, make_kwargs in sections:
        results = {k: o.result for k, o in outcomes.items() if o.status == "ok"}
        outcome = budget.run(name, fn, make_kwargs(results), profile["caps"][name], profile["min_s"][name])
        outcomes[name] = outcome
        if on_done(outcome, {"elapsed_s": round(budget.elapsed(), 1)}):
            break
    return outcomes
