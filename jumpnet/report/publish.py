"""``python -m jumpnet.report ... --wandb``: the report as a W&B dashboard, beside the runs it was built from.

The report gets a W&B run of its own (``job_type=report``) that logs the arm table (``arms.csv``) and the run table
(``runs.csv``) as ``wandb.Table``s, each figure as a ``wandb.Image``, and a ``report`` artifact holding every file of
the folder: tables, figures, CSVs, ``README.md``. Offline by default, like the runs: the W&B run lands in
``<report>/wandb/`` and uploads with ``wandb sync``.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from jumpnet.run.provenance import git_sha


def artifact_name(out: Path) -> str:
    """W&B artifact names allow letters, digits, ``-``, ``_`` and ``.``."""
    return "report-" + re.sub(r"[^A-Za-z0-9_.-]+", "-", out.resolve().name)


TABLES = {"arms": "arms.csv", "runs": "runs.csv"}  # W&B table key: the report's CSV it shows


def wandb_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A frame W&B can type column by column: numbers stay numbers (NaN as null), anything else becomes text."""
    columns = {}
    for column in frame.columns:
        values = frame[column]
        if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
            columns[str(column)] = values.astype(float).replace({np.nan: None}).astype(object)
        else:
            columns[str(column)] = values.map(lambda v: None if v is None or (isinstance(v, float) and np.isnan(v))
                                              else str(v)).astype(object)
    return pd.DataFrame(columns, index=frame.index)


def log_report(out: str | os.PathLike, sources: list[str], completed: int, project: str = "jumpnet-ablation",
               mode: str = "offline", entity: str | None = None, group: str | None = None) -> str:
    """Log the arm and run tables, each figure (PNG) and every file under ``out`` (its own ``wandb/`` folder aside)
    as one ``report`` artifact; return the artifact's name."""
    import wandb  # noqa: PLC0415 - optional and slow to import (about 1 s): only --wandb needs it

    out = Path(out)
    files = sorted(p for p in out.rglob("*") if p.is_file() and "wandb" not in p.relative_to(out).parts)
    name = artifact_name(out)
    os.environ.setdefault("WANDB_SILENT", "true")
    run = wandb.init(project=project, entity=entity, mode=mode, dir=str(out), job_type="report", name=name,
                     group=group or out.resolve().name, reinit="create_new",
                     config={"sources": [str(s) for s in sources], "git_sha": git_sha()})
    logged = False
    try:  # not `with wandb.init(...)`: its __exit__ prints the traceback of any error; the caller says it in a line
        artifact = wandb.Artifact(name, type="report", metadata={"sources": [str(s) for s in sources],
                                                                 "completed_runs": completed, "files": len(files)})
        for path in files:
            artifact.add_file(str(path), name=str(path.relative_to(out)))
        tables = {key: wandb.Table(dataframe=wandb_frame(pd.read_csv(out / csv)))
                  for key, csv in TABLES.items() if (out / csv).is_file()}
        images = {f"figures/{png.stem}": wandb.Image(str(png), caption=png.stem)
                  for png in sorted(out.glob("fig_*.png"))}
        run.log({**tables, **images})
        run.log_artifact(artifact)
        logged = True
    finally:
        run.finish(exit_code=0 if logged else 1)
        if not logged:
            wandb.teardown()  # its service's last log lines now, before the caller's error line
    return name
