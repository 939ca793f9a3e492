"""``python -m jumpnet.gpucheck [--tiny] [--budget-s S] [--out DIR] [--archive TAR]``: see the package docstring."""
from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import torch._dynamo  # noqa: F401  imported once (no thread, no CUDA): every compile section inherits it

from jumpnet.gpucheck import profiles, readme, runner, sections
from jumpnet.gpucheck.concurrency import concurrency
from jumpnet.paths import REPORTS_DIR
from jumpnet.run.folder import write_json_atomic
from jumpnet.run.hardware import slug
from jumpnet.run.provenance import git_dirty, git_sha


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m jumpnet.gpucheck", description=__doc__)
    p.add_argument("--tiny", action="store_true", help="tiny models on the CPU, in under a minute (tests)")
    p.add_argument("--budget-s", type=float, default=None, help="total seconds (default 450 on a GPU, 60 with --tiny)")
    p.add_argument("--out", type=Path, default=None,
                   help="folder for gpucheck.json and README.md (default reports/gpu/<gpu-name>/; "
                        "--tiny: reports/gpucheck-tiny/<device>/)")
    p.add_argument("--archive", default=os.environ.get("JUMPNET_DATA_ARCHIVE") or None,
                   help="CIFAR-10 ImageFolder tar for the real training run (default $JUMPNET_DATA_ARCHIVE; "
                        "else torchvision's copy under data/)")
    return p.parse_args(argv)


def plan_sections(profile: dict, archive: str | None, work: str, report: Report) -> list:
    """(name, function, kwargs from earlier results) for every section, in profile order."""
    def compile_kwargs(mode):
        return lambda results: {"profile": profile, "mode": mode}

    def train_kwargs(results):
        candidates = {k.split(":")[1]: r for k, r in results.items()
                      if k in ("compile:off", "compile:default", "compile:reduce-overhead")}
        mode = max(candidates, key=lambda m: candidates[m]["img_s"], default="off")
        chosen = candidates.get(mode) or {}
        if profile["tiny"]:  # the run goes through the pipeline, which compiles with inductor: eager on a CPU
            mode, chosen = "off", candidates.get("off") or {}
        jumpnet = next((r for r in (results.get("models") or {}).get("rows", []) if r["model"] == "jumpnet"), {})
        img_s = chosen.get("img_s") or jumpnet.get("fast_img_s")
        return {"profile": profile, "compile_mode": None if mode == "off" else mode, "img_s": img_s,
                "compile_s": chosen.get("compile_s", 0.0), "archive": archive, "out_dir": work}

    def plan_kwargs(results):
        return {"profile": profile, "device": report.device, "reports": str(report.reports_dir)}

    table = {"env": (sections.env, lambda r: {"profile": profile}),
             "models": (sections.models, lambda r: {"profile": profile}),
             "concurrency": (concurrency, lambda r: {"profile": profile}),
             "train": (sections.train, train_kwargs), "plan": (sections.plan, plan_kwargs)}
    compiles = {name: (sections.compile_section, compile_kwargs(name.split(":")[1]))
                for name in profiles.SECTIONS if name.startswith("compile:")}
    return [(name, *{**table, **compiles}[name]) for name in profiles.SECTIONS]


class Report:
    """``gpucheck.json`` and ``README.md``, rewritten after every section: a check cut off midway keeps the rest.

    The folder is named after the device, known once the ``env`` section has opened it.
    """

    def __init__(self, record: dict, out_dir: Path | None, tiny: bool):
        self.record, self.dir, self.tiny = record, out_dir, tiny

    @property
    def device(self) -> str | None:
        return self.record["device"]

    @property
    def reports_dir(self) -> Path:
        """Where ``make plan`` looks for figures: ``reports/`` for ``reports/gpu/<name>/``, else the folder itself."""
        return self.dir.parent.parent if self.dir.parent.name == "gpu" else self.dir

    def add(self, outcome: runner.Outcome, elapsed_s: float) -> None:
        self.record["sections"].append(outcome.record())
        self.record["elapsed_s"] = elapsed_s
        if outcome.name == "env":
            self.record["device"] = outcome.result["device"]
        if self.dir is None:
            self.dir = REPORTS_DIR / ("gpucheck-tiny" if self.tiny else "gpu") / slug(self.device)
        self.write()

    def write(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.dir / "gpucheck.json", self.record)
        (self.dir / "README.md").write_text(readme.render(self.record))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    profile = profiles.tiny_profile() if args.tiny else profiles.full_profile()
    if args.budget_s:
        profile["budget_s"] = args.budget_s

    report = Report({"tool": "jumpnet.gpucheck", "tiny": args.tiny, "device": None,
                     "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
                     "command": "python -m jumpnet.gpucheck " + shlex.join(sys.argv[1:] if argv is None else argv),
                     "git_sha": git_sha(), "git_dirty": git_dirty(), "budget_s": profile["budget_s"], "elapsed_s": 0.0,
                     "profile": profile,
                     "sections": []}, args.out, args.tiny)
    print(f"gpucheck: {'tiny, on the CPU' if args.tiny else 'on the GPU'}, budget {profile['budget_s']:.0f} s",
          flush=True)

    def on_done(outcome: runner.Outcome, info: dict) -> bool:
        if outcome.name == "env" and outcome.status != "ok":
            return True  # no device: nothing to measure, and no folder for a device that is not there
        report.add(outcome, info["elapsed_s"])
        note = f" ({outcome.error.splitlines()[0][:200]})" if outcome.error else ""
        print(f"  {outcome.name:<24} {outcome.status:<9} {outcome.seconds:6.1f} s{note}", flush=True)
        return False

    with tempfile.TemporaryDirectory(prefix="gpucheck-") as work:
        outcomes = runner.run_all(plan_sections(profile, args.archive, work, report), profile, on_done)
    if outcomes["env"].status != "ok":
        print(f"error: the device could not be opened ({outcomes['env'].error.splitlines()[0]}). `make gpu-check` "
              f"measures a CUDA GPU; `python -m jumpnet.gpucheck --tiny` checks its code on a CPU.", file=sys.stderr)
        return 2
    report.record["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    report.write()
    print(readme.render(report.record))
    print(f"wrote {report.dir / 'gpucheck.json'} and {report.dir / 'README.md'}")
    return 0 if all(o.status == "ok" for o in outcomes.values()) else 1


if __name__ == "__main__":
    from jumpnet.errors import run_cli

    run_cli(main)
