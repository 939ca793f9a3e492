"""``make plan EXP=<experiment>``: the sweep's dry run, priced before anything trains.

    python -m jumpnet.plan experiment=ablation [overrides ...] [--device-name "NVIDIA H200"] [--runs]

The command line of :func:`jumpnet.sweep.plan.plan`, which says what each column means.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from jumpnet.errors import run_cli
from jumpnet.paths import REPORTS_DIR
from jumpnet.sweep.arms import NotAGridSweep
from jumpnet.sweep.plan import plan


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m jumpnet.plan", description=__doc__.split("\n\n")[0])
    p.add_argument("overrides", nargs="*", help="the sweep's overrides, as for run.py -m (e.g. experiment=ablation)")
    p.add_argument("--device-name", default=None, help="estimate for this device's figures instead of this machine's")
    p.add_argument("--reports", type=Path, default=REPORTS_DIR,
                   help="where bench/gpu-check records are (default reports/)")
    p.add_argument("--runs", action="store_true",
                   help="one row per run and one line per left-out grid point (default: one row per arm, its seeds "
                        "collapsed, and the left-out arms grouped by reason)")
    args = p.parse_args(argv)
    try:
        print(plan(args.overrides, args.device_name, args.reports, runs=args.runs))
    except NotAGridSweep as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    run_cli(main)  # bad overrides: one line naming the key and the fix, not a traceback
