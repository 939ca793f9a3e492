"""How the report names and draws each model family: the ``display`` node of its YAML (``conf/model/<name>.yaml``).

A run's ``.hydra/config.yaml`` holds the node as it was when the run was made; a run recorded before the node
existed gets the one in ``conf/model/`` now, and a family with neither (a YAML of one's own without it) prints its
config name and takes the next free colour and marker. So a new family is one class and one YAML: the report is
never edited for it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from jumpnet.config.choices import MODEL_DISPLAY
from jumpnet.paths import CONF_DIR

# Okabe-Ito colours (colour-blind safe) and filled markers for families whose YAML names none.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#7F7F7F", "#E69F00", "#56B4E9", "#F0E442", "#000000")
MARKERS = ("o", "s", "^", "D", "v", "<", ">", "p", "8")
FIELDS = ("name", "color", "marker")


@dataclass(frozen=True)
class Display:
    name: str
    color: str
    marker: str


def _yaml_display(model: str, conf_dir: Path = CONF_DIR) -> dict:
    path = conf_dir / "model" / f"{model}.yaml"
    try:
        node = (yaml.safe_load(path.read_text()) or {}).get(MODEL_DISPLAY) if path.is_file() else None
    except (OSError, yaml.YAMLError):
        node = None
    return node if isinstance(node, dict) else {}


def displays(cfg: pd.DataFrame, models: list[str]) -> dict[str, Display]:
    """Each model's display, from the runs' flat configs (``model.display.name`` ...), else ``conf/model/``, else
    its config name with a colour and marker no other family of the report uses."""
    found: dict[str, dict] = {}
    names = cfg["model.name"].astype(str) if "model.name" in cfg else pd.Series("", index=cfg.index)
    for model in models:
        rows = cfg[names == model]
        recorded = {f: rows[f"model.{MODEL_DISPLAY}.{f}"].dropna().iloc[0] for f in FIELDS
                    if f"model.{MODEL_DISPLAY}.{f}" in rows and rows[f"model.{MODEL_DISPLAY}.{f}"].notna().any()}
        found[model] = {**_yaml_display(model), **recorded}
    used_colors = {d.get("color") for d in found.values()}
    used_markers = {d.get("marker") for d in found.values()}
    spare_colors = iter([c for c in PALETTE if c not in used_colors] or PALETTE)
    spare_markers = iter([m for m in MARKERS if m not in used_markers] or MARKERS)
    out: dict[str, Display] = {}
    for model, node in found.items():
        color = str(node.get("color") or next(spare_colors, PALETTE[0]))
        marker = str(node.get("marker") or next(spare_markers, MARKERS[0]))
        if any((d.color, d.marker) == (color, marker) for d in out.values()):  # two YAMLs draw alike (JumpNet-50)
            color = next(spare_colors, color)                                  # the later one takes a free colour
        out[model] = Display(str(node.get("name") or model), color, marker)
    return out
