"""Command line: ``python -m jumpnet.report DIR [DIR ...] --out reports/NAME [--wandb]``."""
from __future__ import annotations

import argparse

from jumpnet.errors import run_cli
from jumpnet.report import build_report
from jumpnet.report.publish import log_report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jumpnet.report", description=__doc__)
    parser.add_argument("dirs", nargs="+", help="sweep or run folders, searched recursively for metrics.json")
    parser.add_argument("--out", required=True, help="report folder to write, e.g. reports/smoke")
    parser.add_argument("--wandb", action="store_true", help="also log the report folder to W&B as a 'report' artifact")
    parser.add_argument("--wandb-mode", default="offline", choices=("offline", "online"),
                        help="offline (default): into <out>/wandb/, upload later with `wandb sync`")
    parser.add_argument("--wandb-project", default="jumpnet-ablation")
    parser.add_argument("--wandb-entity", default=None)
    args = parser.parse_args(argv)
    report = build_report(args.dirs, args.out)
    problems = len(report.runs.problems)
    print(f"report: {report.out}/README.md ({len(report.runs.completed)} completed runs"
          + (f", {problems} failed/diverged/unfinished listed there)" if problems else ")"))
    if args.wandb:
        name = log_report(report.out, args.dirs, len(report.runs.completed), args.wandb_project, args.wandb_mode,
                          args.wandb_entity)
        upload = f"; upload with: wandb sync {report.out}/wandb/offline-run-*" if args.wandb_mode == "offline" else ""
        print(f"W&B: artifact {name} ({args.wandb_mode}{upload})")
    return 0


if __name__ == "__main__":
    run_cli(main)
