"""``make data`` (``python -m jumpnet.data.prepare [overrides]``): get a dataset ready in ``data.root`` once.

Downloads CIFAR through torchvision, or decodes ``data.archive`` into its cache,
exactly as a run would (same config, same overrides: ``data=cifar100``,
``experiment=ablation``), so the jobs of a cluster launch all find it ready
instead of each fetching it. Runs that start while it works wait on its lock.
"""
from __future__ import annotations

import logging
import sys
import time

from jumpnet.config.compose import compose_config
from jumpnet.data.sources import load_arrays
from jumpnet.errors import run_cli


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__)
        return 0
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    cfg = compose_config(argv)
    data = cfg.data
    started = time.perf_counter()
    arrays = load_arrays(data)
    source = (f"archive {data.archive}" if data.get("archive") else
              "torchvision" if data.name != "synthetic" else "generated")
    print(f"{data.name}: {len(arrays.y_train):,} train and {len(arrays.y_test):,} test images, {len(arrays.classes)} "
          f"classes of {arrays.x_train.shape[1]}x{arrays.x_train.shape[2]}, ready in data.root={data.root} "
          f"({source}; {time.perf_counter() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    run_cli(main)
