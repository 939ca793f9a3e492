"""The project's own errors, and the one place that prints them: one line each, no traceback.

Every error a user can fix (a config value, the data, an ablation a model cannot
express, a sweep that did not complete) derives from :class:`JumpnetError`; its
message names the key and the bad value, ``fix`` says what to type instead.
:func:`run_cli` wraps ``run.py`` and every ``python -m jumpnet.*`` command: it
prints such errors, and Hydra's own composition errors (an unknown key, a value
of the wrong type, a missing option), in a line or two with the closest valid
key suggested. ``HYDRA_FULL_ERROR=1`` gives the full traceback instead. A file the
environment would not let us have (a full disk, a quota, a read-only mount, a
folder under a file, a name over the filesystem's limit) is a line too, naming
the path and the errno, also when Hydra itself met it (its ``.hydra/*.yaml``,
whose OSError names no path); a log file that can no longer be written drops its
lines instead of printing a traceback for each. A SIGTERM recorded by the run
(:class:`Terminated`) ends the process by that signal. Anything else is a bug and
keeps its traceback.
"""
from __future__ import annotations

import difflib
import errno
import logging
import os
import signal
import sys
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from hydra.errors import ConfigCompositionException, HydraException, InstantiationException, MissingConfigException
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException, ValidationError

from jumpnet.paths import CONF_DIR

# A file the environment would not let us have (full disk, quota, read-only, permissions, a name too long): not a bug.
WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENAMETOOLONG, errno.EFBIG}
# ... and a path that cannot be a folder or cannot be made (under a file, under /proc, an existing file's name).
PATH_ERRNOS = WRITE_ERRNOS | {errno.ENOTDIR, errno.ENOENT, errno.EEXIST, errno.EISDIR, errno.EIO, errno.ELOOP}
PATH_FIX = "make it writable, or point the setting that names it (paths.experiments_dir or JUMPNET_EXPERIMENTS_DIR, " \
           "data.root, --out) at a writable folder"


class JumpnetError(Exception):
    """Bad input or state the user can fix: ``message`` names the key and value, ``fix`` the remedy."""

    def __init__(self, message: str, fix: str | None = None):
        super().__init__(message, fix)  # both in args, so the error pickles across submitit processes
        self.message, self.fix = message, fix

    def __str__(self) -> str:
        if not self.fix:
            return self.message
        return f"{self.message}{'' if self.message.endswith(('.', '?', '!')) else '.'} Fix: {self.fix}"


class ConfigError(JumpnetError, ValueError):
    """A config value (or combination of values) that cannot work."""


class AblationError(ConfigError):
    """A links/merge/head/residual combination a model cannot express (a sweep leaves such arms out)."""


class DataError(JumpnetError, ValueError):
    """Data that cannot be used or reached."""


class SweepError(JumpnetError):
    """Some runs of a sweep did not complete (the others did and are kept)."""


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived while a run trained (``jumpnet.run.signals``): handled as Ctrl-C is, then the process ends by
    the signal. ``previous`` is the handler installed before ours, which the run calls once its record is written."""

    def __init__(self, signum: int = signal.SIGTERM, previous: Any = None):
        super().__init__(signum)
        self.signum, self.previous = signum, previous


def exit_by_signal(signum: int) -> None:
    """End this process by ``signum`` with its default action, so the exit status says which signal (143: SIGTERM)."""
    sys.stdout.flush()
    sys.stderr.flush()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
    sys.exit(128 + signum)  # only if the signal is blocked here


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The valid name a typo most likely meant, or None."""
    match = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return match[0] if match else None


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``"; did you mean X?"`` when one choice is close, else ``""``."""
    match = closest(word, choices)
    return f"; did you mean {match}?" if match else ""


def config_groups() -> list[str]:
    """The config groups a command line can select (``model=...``), from ``conf/``."""
    groups = {str(p.parent.relative_to(CONF_DIR)) for p in CONF_DIR.rglob("*.yaml") if p.parent != CONF_DIR}
    return sorted(groups | {"hydra/launcher", "hydra/sweeper"})


def _override_of(text: str) -> str:
    """``trainer.epochs=abc`` out of Hydra's "Error merging override trainer.epochs=abc"."""
    return text.strip().split(" ")[-1] if "override" in text else ""


def _explain_omegaconf(cause: Any, hydra_message: str) -> str:
    key = getattr(cause, "full_key", None) or ""
    first = str(getattr(cause, "msg", cause)).splitlines()[0]
    if isinstance(cause, (ConfigAttributeError, ConfigKeyError)):
        parent = getattr(cause, "parent_node", None)
        prefix = key.rsplit(".", 1)[0] + "." if "." in key else ""
        names = [prefix + str(k) for k in parent.keys()] if parent is not None else []
        what = "config key" if prefix else "config group or key"
        if not prefix:
            names += config_groups()
        return f"{key} is not a {what}{did_you_mean(key, names)} (see conf/ and jumpnet/config/schema.py)"
    if isinstance(cause, ValidationError):
        override = _override_of(hydra_message)
        value = override.split("=", 1)[1] if "=" in override else getattr(cause, "value", "?")
        if first.startswith("Invalid value") and "expected one of [" in first:
            options = first.split("expected one of [", 1)[1].rstrip("]").split(", ")
            return f"{key}={value} is not one of {', '.join(options)}{did_you_mean(value, options)}"
        if "could not be converted to " in first:
            kind = first.rsplit("could not be converted to ", 1)[1].strip().lower()
            article = "an" if kind[:1] in "aeiou" else "a"
            parent, leaf = getattr(cause, "parent_node", None), key.rsplit(".", 1)[-1]
            current = parent.get(leaf) if parent is not None and hasattr(parent, "get") else None
            example = f"; e.g. {key}={current} (its current value)" if current is not None else ""
            return f"{key}={value} is not {article} {kind}{example}"
        return f"{key}={value}: {first}"
    return f"{key}: {first}" if key else first


def _ours(err: BaseException | None) -> JumpnetError | None:
    """Our own error, when ``err`` is one or wraps one (a resolver's error, which OmegaConf re-raises as its own)."""
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, JumpnetError):
            return err
        if not isinstance(err, (OmegaConfBaseException, HydraException)):
            return None
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return None


def _path_of(err: OSError) -> str | None:
    """The file an OSError is about: its own ``filename``, or the one Hydra was saving (``_save_config``'s
    ``output_dir / filename``: a full disk fails in ``write``, whose error names no file)."""
    if err.filename:
        return str(err.filename)
    tb = err.__traceback__
    while tb is not None:
        code, names = tb.tb_frame.f_code, tb.tb_frame.f_locals
        if code.co_name == "_save_config" and "output_dir" in names and "filename" in names:
            return str(Path(names["output_dir"]) / str(names["filename"]))
        tb = tb.tb_next
    return None


def explain_os_error(err: OSError) -> str | None:
    """One line for a path the environment refuses, with what to do; None when it names no path we can tell."""
    path = _path_of(err)
    if path is None or err.errno not in PATH_ERRNOS:
        return None
    verb = "create" if err.errno in (errno.ENOTDIR, errno.ENOENT, errno.EEXIST, errno.ELOOP) else "write"
    code = errno.errorcode.get(err.errno, str(err.errno))
    fix = "free space there, or point paths.experiments_dir / data.root / --out elsewhere" \
        if err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) else PATH_FIX
    return f"cannot {verb} {path}: [Errno {err.errno} {code}] {err.strerror or err}. Fix: {fix}"


def explain(err: BaseException) -> str | None:
    """A short message for an error the user can fix, or None for a bug (which keeps its traceback)."""

    ours = _ours(err)
    if ours is not None:
        return " ".join(str(ours).split())
    if isinstance(err, OSError) and not isinstance(err, HydraException):  # (Hydra's MissingConfigException is one)
        return explain_os_error(err)
    if isinstance(err, MissingConfigException) and err.missing_cfg_file and err.options is not None:
        group, _, option = err.missing_cfg_file.rpartition("/")
        return (f"{group}={option} is not an option of the {group} group{did_you_mean(option, err.options)} "
                f"(options: {', '.join(err.options)})")
    if isinstance(err, ConfigCompositionException):
        cause = err.__cause__
        if isinstance(cause, OmegaConfBaseException):
            return _explain_omegaconf(cause, str(err).splitlines()[0])
        text = str(err).splitlines()
        if text and text[0].startswith("Could not override '") and "defaults list" in " ".join(text):
            name = text[0].split("'")[1]
            return f"{name} is not a config group or key{did_you_mean(name, config_groups())}"
        return " ".join(line.strip() for line in text if line.strip() and not line.startswith("Config search path"))
    if isinstance(err, InstantiationException):  # a model's constructor raised: a bug unless it was ours
        return None
    if isinstance(err, (HydraException, OmegaConfBaseException)):
        return " ".join(line.strip() for line in str(err).splitlines() if line.strip())
    return None


def run_cli(main: Callable[[], Any]) -> None:
    """Run a command's ``main`` and exit: its return code, or 1 with a short message for a fixable error.

    Hydra prints errors itself unless ``HYDRA_FULL_ERROR=1``; we set it so errors reach us and print them
    our way, and re-raise untouched when the user asked for the full traceback.
    """
    if os.environ.get("HYDRA_FULL_ERROR") == "1":
        try:
            code = main()
        except Terminated as err:
            exit_by_signal(err.signum)
        sys.exit(code if isinstance(code, int) else 0)
    os.environ["HYDRA_FULL_ERROR"] = "1"
    logging.raiseExceptions = False  # a log file on a full disk drops lines; the error itself is said once, below
    try:
        code = main()
    except SystemExit:
        raise
    except Terminated as err:
        sys.stderr.write(f"terminated by {signal.Signals(err.signum).name}\n")
        exit_by_signal(err.signum)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)
    except Exception as err:  # noqa: BLE001 - the one place errors are reported
        message = explain(err)
        if message is None:
            traceback.print_exc()
        else:
            sys.stderr.write(f"error: {message}\n")
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
