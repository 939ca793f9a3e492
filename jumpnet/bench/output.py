"""What ``make bench`` shows and keeps: a line per model as it is measured, the table, and ``bench.json``.

``bench.json``'s keys are read by ``make plan`` (``jumpnet.sweep.speeds``): renaming one is an interface change.
"""
from __future__ import annotations

import json
from datetime import UTC, datetime

import pandas as pd
import torch

from jumpnet.bench.settings import BenchSettings
from jumpnet.models.cost import TRAIN_FLOPS_PER_FORWARD


def row_line(row: dict) -> str:
    """One model's result as it comes in: fp32 and bf16, both paths, their ratio, every run (and compiled modes)."""
    compiled = "".join(f"; {mode} {c['img_s']:.1f} img/s, x{c['x_eager']:.2f} of eager, warm-up {c['warmup_s']} s "
                       f"(runs {c['runs']})" for mode, c in (row.get("compiled") or {}).items())
    precision = (f"fp32 {row['fp32_img_s']:.1f} img/s, bf16 {row['bf16_img_s']:.1f} img/s (x{row['bf16_x']:.2f}); "
                 if "bf16_x" in row else "")
    return (f"  {row['model']}: {precision}fast ({row.get('precision', 'fp32')}) {row['fast_img_s']:.1f} img/s, "
            f"plain {row['plain_img_s']:.1f} img/s, "
            f"x{row['ratio']:.2f} (runs {row['fast_runs']} vs {row['plain_runs']}){compiled}")


def table(rows: list[dict], device: torch.device) -> str:
    """The Markdown table of every measured model (peak GPU memory on CUDA, peak RSS on a CPU)."""
    df = pd.DataFrame(rows)
    cols = {"model": "model", "params": "params", "flops": "fwd GFLOPs/img", "fp32_img_s": "fp32 img/s",
            "bf16_img_s": "bf16 img/s", "bf16_x": "bf16/fp32", "precision": "auto picks", "fast_img_s": "fast img/s",
            "plain_img_s": "plain img/s", "ratio": "fast/plain", "fast_tflops": "fast TFLOP/s",
            "plain_tflops": "plain TFLOP/s"}
    mem = ({"fast_peak_mem_mib": "fast peak MiB", "plain_peak_mem_mib": "plain peak MiB"} if device.type == "cuda"
           else {"plain_peak_rss_mib": "peak RSS MiB (process so far)",
                 "plain_workers_peak_rss_mib": "workers' peak RSS MiB (so far)"})
    formats = {"params": "{:,}", "flops": "{:.3f}", "fp32_img_s": "{:.1f}", "bf16_img_s": "{:.1f}", "bf16_x": "{:.2f}",
               "fast_img_s": "{:.1f}", "plain_img_s": "{:.1f}", "ratio": "{:.2f}",
               "fast_tflops": "{:.4f}", "plain_tflops": "{:.4f}"}
    df["flops"] = df["flops"] / 1e9
    for mode in (rows[0].get("compiled") or {}):
        cols[f"{mode}_img_s"] = f"{mode} img/s"
        formats[f"{mode}_img_s"] = "{:.1f}"
        df[f"{mode}_img_s"] = [r["compiled"][mode]["img_s"] for r in rows]
    for col in df:
        fmt = formats.get(col, "{:.0f}" if col.endswith("_mib") else None)
        if fmt:
            df[col] = df[col].map(fmt.format)
    df = df[[c for c in {**cols, **mem} if c in df]].rename(columns={**cols, **mem})
    return df.to_markdown(index=False, disable_numparse=True, colalign=["left"] + ["right"] * (len(df.columns) - 1))


def bench_record(settings: BenchSettings, device_name: str, source: str, rows: list[dict],
                 failed: list[dict]) -> dict:
    """``bench.json``: the measured rows with everything needed to read them (device, counts, data, overrides)."""
    return {"device": device_name, "device_type": settings.device, "torch": torch.__version__,
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "threads": torch.get_num_threads(), "batch_size": settings.batch_size, "steps": settings.steps,
            "repeats": settings.repeats, "warmup_epochs": settings.warmup, "compile": list(settings.compile) or False,
            "fast_channels_last": settings.fast_channels_last, "plain_workers": settings.plain_workers,
            "data": source, "overrides": list(settings.overrides), "statistic": "median of repeats",
            "train_flops_per_image": f"{TRAIN_FLOPS_PER_FORWARD} x forward FLOPs (torch.utils.flop_counter)",
            "models": rows, "failed": failed}


def write_outputs(settings: BenchSettings, record: dict, md: str) -> None:
    settings.out.parent.mkdir(parents=True, exist_ok=True)
    settings.out.write_text(json.dumps(record, indent=2) + "\n")
    settings.out.with_suffix(".md").write_text(md + "\n")
    print(f"wrote {settings.out} and {settings.out.with_suffix('.md')}")
