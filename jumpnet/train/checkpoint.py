"""Save and restore everything a run needs to continue exactly where it stopped.

Checkpoints hold only tensors and plain containers so they load with
``torch.load(weights_only=True)``: a checkpoint can never execute code. They
are serialized in memory and written with ``jumpnet.atomic`` (temp file, fsync,
rename), so a kill or a full disk leaves the previous checkpoint whole and no
temp file behind. A checkpoint that cannot be loaded (cut short, garbage, from
an incompatible version) is moved aside to ``checkpoint.pt.corrupt-<time>`` and
the run starts again from scratch, saying so: it would fail the same way forever.
"""
from __future__ import annotations

import io
import logging
import os
import re
from datetime import datetime
from pathlib import Path

import torch

from jumpnet.atomic import unique_path, write_bytes_atomic

WALL_TIME = "wall_time_s"  # a checkpoint's key: wall time of every attempt so far, up to this checkpoint (s)

log = logging.getLogger(__name__)
# What a resumable checkpoint must hold (train.Trainer._state writes them).
REQUIRED = ("epoch", "model", "optimizer", "scheduler", "history", "rng", "loader_rng")


def save_checkpoint(path: Path, state: dict) -> None:
    """Atomic, durable save: a killed process or a full disk never leaves a half-written checkpoint behind."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    write_bytes_atomic(path, buffer.getbuffer())


def load_checkpoint(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def first_sentence(text: str, limit: int = 160) -> str:
    """An exception's first sentence, whole words only: torch's long advice (load with weights_only=False, which
    would run arbitrary code) does not belong in a note saying the file was set aside."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    sentence = re.split(r"(?<=[.!?])\s", line, maxsplit=1)[0].rstrip(".")
    return sentence if len(sentence) <= limit else sentence[:limit].rsplit(" ", 1)[0] + " ..."


def load_or_set_aside(path: Path) -> tuple[dict | None, str | None]:
    """``(state, None)`` for a usable checkpoint, ``(None, None)`` when there is none, and ``(None, note)`` when
    it was damaged: then it has been renamed to ``<name>.corrupt-<time>`` and ``note`` says so."""
    path = Path(path)
    if not path.exists():
        return None, None
    try:
        state = load_checkpoint(path)
        if not isinstance(state, dict) or any(key not in state for key in REQUIRED):
            raise ValueError(f"not a training checkpoint (missing {[k for k in REQUIRED if k not in (state or {})]})")
    except Exception as err:  # noqa: BLE001 - torch raises OSError, EOFError, RuntimeError, UnpicklingError ...
        aside = unique_path(path.parent, f"{path.name}.corrupt-{datetime.now().strftime('%Y%m%d-%H%M%S')}")
        os.replace(path, aside)
        reason = first_sentence(str(err)) or type(err).__name__
        note = f"checkpoint {path} could not be loaded ({type(err).__name__}: {reason}); moved to {aside.name}, " \
               f"training restarted from scratch"
        log.warning(note)
        return None, note
    return state, None


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
