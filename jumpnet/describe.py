"""``python -m jumpnet.describe [overrides]``: build the model only and print its measurements.

Takes the same Hydra overrides as ``run.py`` (``model=densenet data=cifar100``)
and prints one JSON object: params, flops, macs, feature_map, size_mb, the
configured ``width_mult``, the integer ``widths`` it builds and, for a matched
arm (``ablation.match``), the solve: ``match_target``, ``match_width_mult`` (the
width built), ``match_ratio`` and ``match_gap``.
"""
from __future__ import annotations

import json
import sys

from jumpnet.config.compose import compose_config
from jumpnet.errors import run_cli
from jumpnet.models.cost import measure
from jumpnet.models.factory import resolve_model


def describe(overrides: list[str]) -> dict:
    cfg = compose_config(overrides)
    spec = resolve_model(cfg)
    return {"model": cfg.model.name, "ablation": cfg.ablation.name, **measure(spec.build(), int(cfg.data.image_size)),
            "width_mult": float(cfg.model.get("width_mult", 1.0)), **spec.record()}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__)
        return 0
    print(json.dumps(describe(argv)))
    return 0


if __name__ == "__main__":
    run_cli(main)  # bad overrides: one line naming the key and the fix, not a traceback
