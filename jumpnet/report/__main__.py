"""Command line: ``python -m jumpnet.report DIR [DIR ...] --out reports/NAME``."""
from __future__ import annotations

import argparse
import sys

from jumpnet.report import build_report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jumpnet.report", description=__doc__)
    parser.add_argument("dirs", nargs="+", help="sweep or run folders, searched recursively for metrics.json")
    parser.add_argument("--out", required=True, help="report folder to write, e.g. reports/smoke")
    args = parser.parse_args(argv)
    report = build_report(args.dirs, args.out)
    problems = len(report.runs.problems)
    print(f"report: {report.out}/README.md ({len(report.runs.completed)} completed runs"
          + (f", {problems} failed/diverged/unfinished listed there)" if problems else ")"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
