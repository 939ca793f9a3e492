"""``make status EXP=<name>``: a read-only table of a sweep's runs, and the arms of its preset not yet started.

    python -m jumpnet.status experiments/<name>

The command line of :func:`jumpnet.sweep.status.status_table`, which says what each column means.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from jumpnet.errors import run_cli
from jumpnet.sweep.status import is_preset, shorten, status_table


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m jumpnet.status", description=__doc__.split("\n\n")[0])
    p.add_argument("sweep", type=Path, help="the sweep's folder, e.g. experiments/ablation")
    args = p.parse_args(argv)
    started = args.sweep.is_dir()
    if not started and not is_preset(args.sweep):
        print(f"error: {args.sweep} is not a folder and conf/experiment/{args.sweep.name}.yaml is not a preset; pass "
              f"a sweep's folder, e.g. experiments/smoke", file=sys.stderr)
        return 2
    table, waiting, note = status_table(args.sweep)
    why = list(table.pop("why")) if len(table) else []
    prefix, short = shorten((list(table["run"]) if len(table) else []) + waiting)
    if prefix:
        waiting = short[len(table):]
        if len(table):
            table["run"] = short[:len(table)]
    print(f"Sweep {args.sweep}: " + (f"{len(table)} run folder(s)" if started else "no run folder yet")
          + (f", all in {prefix}/" if prefix else ""))
    if len(table):
        print(table.to_markdown(index=False, disable_numparse=True))
        counts = table["status"].value_counts()
        print("Runs: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
        for line in filter(None, why):
            print(f"  {line} (left out of reports, never overwritten)")
    if note:
        print(f"Not started: unknown ({note})")
    else:
        print(f"Not started: {len(waiting)} arm(s) of the preset" + (":" if waiting else ""))
        for name in waiting:
            print(f"  {name}")
    return 0


if __name__ == "__main__":
    run_cli(main)  # bad overrides: one line naming the key and the fix, not a traceback
