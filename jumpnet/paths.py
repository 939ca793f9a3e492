"""The project's own folders, defined once: every module imports them from here.

The config tree, the ablation presets inside it and the committed reports live beside the package in a
checkout (``pip install -e .``, which is how the project is installed), so they are found from this file.
Where runs and data go is the ``paths`` config group's choice (``conf/paths/default.yaml``), not this module's.
"""
from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONF_DIR = PROJECT_ROOT / "conf"
ABLATION_PRESETS_DIR = CONF_DIR / "ablation"
REPORTS_DIR = PROJECT_ROOT / "reports"
ESTIMATES_FILE = "estimates.json"  # in a sweep folder: make plan's estimate of each run, kept at launch (the report's)


def cost_store() -> Path:
    """Where ``make plan`` keeps each network's parameter and FLOP counts between runs (``cost.NetworkCosts``):
    ``$JUMPNET_CACHE_DIR``, else ``$XDG_CACHE_HOME/jumpnet-ablation``, else ``~/.cache/jumpnet-ablation``."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache") / "jumpnet-ablation"
    return Path(os.environ.get("JUMPNET_CACHE_DIR") or cache).expanduser() / "network-costs.json"
