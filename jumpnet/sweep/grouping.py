"""A grid's runs as arms: the seeds of one arm on one row, the left-out arms grouped by their reason.

``make plan`` prints one row per arm (``jumpnet-full``, seeds ``0-9``) and ``--runs`` one row per run; the left-out
grid points are listed once per reason, the arms that share it named together. An arm is its run folder less the
``-s<seed>`` the folder ends with (``hydra.sweep.subdir``); a folder that does not end so is its own arm.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

import pandas as pd

from jumpnet.sweep.arms import Arm


def arm_name(name: str, seed: int) -> str:
    """``jumpnet-full-s3`` (seed 3) is the arm ``jumpnet-full``; a name not ending in its seed stays itself."""
    suffix = f"-s{seed}"
    return name[: -len(suffix)] if name.endswith(suffix) else name


def seed_ranges(seeds: Iterable[int]) -> str:
    """``0-9``, ``0-2,5``, ``3``: sorted seeds with consecutive runs collapsed."""
    ordered, parts = sorted(set(seeds)), []
    for seed in ordered:
        if parts and seed == parts[-1][1] + 1:
            parts[-1][1] = seed
        else:
            parts.append([seed, seed])
    return ",".join(f"{a}-{b}" if b > a else f"{a}" for a, b in parts)


def seeds_label(seeds: Iterable[int]) -> str:
    """``seeds 0-9``, or ``seed 0`` for one."""
    text = seed_ranges(seeds)
    return f"seed {text}" if text.isdigit() else f"seeds {text}"


def status_summary(labels: list[str]) -> str:
    """One status when every seed shares it, else how many have each (``3 done, 7 to run``)."""
    counts = pd.Series(labels).value_counts(sort=False)
    return labels[0] if len(counts) == 1 else ", ".join(f"{n} {label}" for label, n in counts.items())


def arm_rows(shown: pd.DataFrame, seeds: list[int]) -> pd.DataFrame:
    """``shown`` (one row per run: run, status, epochs, PFLOP, est. time, as printed) as one row per arm: runs
    that differ only in the seed (same arm, epochs and figures) become one row with their seeds and statuses."""
    runs = shown.assign(arm=[arm_name(run, seed) for run, seed in zip(shown["run"], seeds, strict=True)], seed=seeds)
    keys = ["arm", "epochs", "PFLOP", "est. time"]
    rows = [{"arm": arm, "seeds": seed_ranges(group["seed"]), "status": status_summary(list(group["status"])),
             "epochs": epochs, "PFLOP": pflop, "est. time": estimate}
            for (arm, epochs, pflop, estimate), group in runs.groupby(keys, sort=False)]
    return pd.DataFrame(rows)


def left_out_lines(arms: list[Arm], strip) -> list[str]:
    """One line per reason: the arms left out for it (with their seeds), then the reason, said once.

    ``strip`` shortens names (the override levels every arm shares, said above the table)."""
    groups: dict[str, dict[str, list[int]]] = {}
    for arm in arms:
        seed = int(arm.cfg.seed)
        if arm.kind == "duplicate":  # the arm it duplicates has the same seed: name that arm, not its run
            arm = replace(arm, duplicate_of=arm_name(arm.duplicate_of, seed))
        why = strip(arm.why)
        groups.setdefault(why, {}).setdefault(arm_name(strip(arm.name), seed), []).append(seed)
    lines = []
    for why, named in groups.items():
        labels = {seeds_label(s) for s in named.values()}
        if len(labels) == 1:
            lines.append(f"  {', '.join(named)} ({labels.pop()}): {why}")
        else:
            lines.append(f"  {', '.join(f'{n} ({seeds_label(s)})' for n, s in named.items())}: {why}")
    return lines
