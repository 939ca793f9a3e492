"""Command line: ``python -m jumpnet.report DIR [DIR ...] --out reports/NAME [--wandb]``.

Every failure is one ``error:`` line naming the path and the fix (``jumpnet.errors.run_cli``): an ``--out`` that
cannot be created or written is found before anything is read; a W&B problem after the report is written says the
report is there and what W&B needs. Records that are not valid run records are named, one line each, and left out
of the tables (the report's README lists them too).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from jumpnet.atomic import write_text_atomic
from jumpnet.errors import JumpnetError, explain_os_error, run_cli
from jumpnet.report import build_report
from jumpnet.report.publish import log_report

WANDB_FIX = "make HOME writable or set WANDB_DATA_DIR, WANDB_CACHE_DIR and WANDB_CONFIG_DIR to writable folders, " \
            "then run the same command again (the report itself is written)"


class ReportError(JumpnetError):
    """The report's folder cannot be written, or W&B could not log a written report."""


def check_out(out: Path) -> None:
    """Write a probe file in ``out`` (creating it, then removing what was created): an unwritable ``--out`` fails
    before any run is read, and a report that is not written leaves no folder."""
    missing = [p for p in (out, *out.parents) if not p.exists()]
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-probe"
        write_text_atomic(probe, "")
        probe.unlink()
    except OSError as err:
        raise ReportError(explain_os_error(err) or f"cannot write {out}: {err}", None) from err
    except JumpnetError as err:  # jumpnet.atomic's WriteError: already one line naming the file
        raise ReportError(f"--out {out}: {err.message}", "point --out at a writable folder") from err
    finally:
        for folder in missing:  # deepest first
            try:
                folder.rmdir()
            except OSError:
                pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jumpnet.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("dirs", nargs="+", help="sweep or run folders, searched recursively for metrics.json")
    parser.add_argument("--out", required=True, help="report folder to write, e.g. reports/smoke")
    parser.add_argument("--wandb", action="store_true", help="also log the report folder to W&B as a 'report' artifact")
    parser.add_argument("--wandb-mode", default="offline", choices=("offline", "online"),
                        help="offline (default): into <out>/wandb/, upload later with `wandb sync`")
    parser.add_argument("--wandb-project", default="jumpnet-ablation")
    parser.add_argument("--wandb-entity", default=None)
    args = parser.parse_args(argv)
    check_out(Path(args.out))
    report = build_report(args.dirs, args.out)
    problems = len(report.runs.problems)
    print(f"report: {report.out}/README.md ({len(report.runs.completed)} completed runs"
          + (f", {problems} failed/diverged/unfinished listed there)" if problems else ")"))
    unreadable = report.runs.runs[report.runs.runs["status"] == "unreadable"]
    for why in unreadable.get("error", []):
        print(f"report: {why} (left out of the tables)", file=sys.stderr)
    if args.wandb:
        try:
            name = log_report(report.out, args.dirs, len(report.runs.completed), args.wandb_project,
                              args.wandb_mode, args.wandb_entity)
        except Exception as err:  # noqa: BLE001 - wandb raises anything; the report is written either way
            text = " ".join(str(err).split())[:400] or type(err).__name__
            raise ReportError(f"the report is written ({report.out}/README.md) but W&B could not log it "
                              f"({type(err).__name__}: {text})", WANDB_FIX) from err
        upload = f"; upload with: wandb sync {report.out}/wandb/offline-run-*" if args.wandb_mode == "offline" else ""
        print(f"W&B: artifact {name} ({args.wandb_mode}{upload})")
    return 0


if __name__ == "__main__":
    run_cli(main)
