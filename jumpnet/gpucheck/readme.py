"""``reports/gpu/<gpu>/README.md``: the check's figures as tables, and the issue's targets against them."""
from __future__ import annotations

import pandas as pd

TARGET_IMG_S = 100_000   # JumpNet-CIFAR training, aggregate over runs sharing one GPU
TARGET_RATIO = 5.0       # that aggregate over the plain loop on the same GPU


def md(rows: list[dict]) -> str:
    return pd.DataFrame(rows).to_markdown(index=False, disable_numparse=True)


def fmt(value, spec: str = ",.0f") -> str:
    return "" if value is None else format(value, spec)


def sections_table(sections: list[dict]) -> str:
    return md([{"section": s["name"], "status": s["status"], "seconds": fmt(s["seconds"], ".1f"),
                "note": (s.get("error") or "").splitlines()[0][:160] if s.get("error") else ""} for s in sections])


def models_table(result: dict) -> str:
    rows = [{"model": r["model"], "params": fmt(r["params"]), "fwd GFLOPs/img": fmt(r["flops"] / 1e9, ".3f"),
             "fast img/s": fmt(r["fast_img_s"]), "plain img/s": fmt(r["plain_img_s"]),
             "fast/plain": fmt(r["ratio"], ".2f"),
             "fast TFLOP/s": fmt(r["fast_tflops"], ".2f"),
             "fast peak MiB": fmt(r.get("fast_peak_mem_mib") or r.get("fast_peak_rss_mib"))} for r in result["rows"]]
    note = "".join(f"\n\n{f['model']} failed: {f['error']}" for f in result.get("failed", []))
    return (f"Batch {result['batch_size']}, {result['steps']} steps per timed epoch, median of {result['repeats']}; "
            f"plain loop with {result['plain_workers']} DataLoader workers.\n\n" + md(rows) + note)


def compile_table(by_mode: dict[str, dict]) -> str:
    eager = (by_mode.get("off") or {}).get("img_s")
    rows = [{"trainer.compile": mode, "compile s": fmt(r["compile_s"], ".1f"), "img/s": fmt(r["img_s"]),
             "TFLOP/s": fmt(r["tflops"], ".2f"), "x eager": fmt(r["img_s"] / eager, ".2f") if eager else "",
             "graphs compiled": str(r["graphs_compiled"]),
             "eval, padded (s)": f"{r['eval_first_s']:.2f} then {r['eval_s']:.2f}"} for mode, r in by_mode.items()]
    return md(rows)


def concurrency_table(result: dict) -> str:
    rows = []
    for lv in result["levels"]:
        if "error" in lv:
            rows.append({"runs": str(lv["runs"]), "aggregate img/s": "failed", "per run img/s": lv["error"][:80],
                         "x one run": "", "peak MiB per run": ""})
            continue
        rows.append({"runs": str(lv["runs"]), "aggregate img/s": fmt(lv["aggregate_img_s"]),
                     "per run img/s": ", ".join(fmt(v) for v in lv["per_run_img_s"]),
                     "x one run": fmt(lv.get("speedup"), ".2f"),
                     "peak MiB per run": fmt(max((m or 0) for m in lv["peak_mem_mib"]) or None)})
    return f"Each run trains for {result['window_s']} s after a shared start.\n\n" + md(rows)


def targets(results: dict) -> list[str]:
    lines = []
    conc, models = results.get("concurrency"), results.get("models")
    plain = next((r["plain_img_s"] for r in (models or {}).get("rows", []) if r["model"] == "jumpnet"), None)
    best = max((lv for lv in (conc or {}).get("levels", []) if "aggregate_img_s" in lv),
               key=lambda lv: lv["aggregate_img_s"], default=None)
    if best:
        met = "met" if best["aggregate_img_s"] >= TARGET_IMG_S else "not met"
        lines.append(f"- JumpNet aggregate >= {TARGET_IMG_S:,} img/s: {best['aggregate_img_s']:,.0f} with "
                     f"{best['runs']} run(s) per GPU: {met}.")
        if plain:
            ratio = best["aggregate_img_s"] / plain
            lines.append(f"- >= {TARGET_RATIO:.0f}x the plain loop ({plain:,.0f} img/s): {ratio:.1f}x: "
                         f"{'met' if ratio >= TARGET_RATIO else 'not met'}.")
    else:
        lines.append("- JumpNet aggregate throughput: not measured (see the sections table).")
    for name, totals in ((results.get("plan") or {}).get("plans") or {}).items():
        lines.append(f"- `make plan {name}` on this device: " + " ".join(totals))
    return lines


def render(record: dict) -> str:
    results = {s["name"]: s["result"] for s in record["sections"] if s["status"] == "ok"}
    env = results.get("env", {})
    out = [f"# GPU check: {record['device']}", "",
           f"Measured {record['measured_at']} by `{record['command']}` (git {record.get('git_sha') or 'unknown'}"
           f"{', uncommitted changes' if record.get('git_dirty') else ''}); "
           f"torch {env.get('torch', '?')}, CUDA {env.get('cuda', '-')}, cuDNN {env.get('cudnn', '-')}, "
           f"{env.get('cores', '?')} CPU cores; {record['elapsed_s']:.0f} s of a {record['budget_s']:.0f} s budget."]
    if record.get("tiny"):
        out += ["", "**`--tiny`: tiny models on a CPU, compiled with the aot_eager backend. These figures check "
                    "the code paths; they measure nothing about any GPU.**"]
    out += ["", "## Sections", "", sections_table(record["sections"])]
    if "models" in results:
        out += ["", "## Training speed per model (fast path vs plain loop)", "", models_table(results["models"])]
    by_mode = {n.split(":", 1)[1]: r for n, r in results.items() if n.startswith("compile:")}
    if by_mode:
        out += ["", "## JumpNet under `trainer.compile`", "", compile_table(by_mode)]
    if "concurrency" in results:
        out += ["", "## Several JumpNet trainings on one GPU (`trainer.runs_per_gpu`)", "",
                concurrency_table(results["concurrency"])]
    if "train" in results:
        t = results["train"]
        out += ["", "## A real training run", "",
                f"JumpNet, {t['epochs']} epoch(s) of `{t['recipe']}` on {t['data']} {t['splits']}, "
                f"trainer.compile={t['compile'] or 'false'}: test accuracy **{t['test_acc']:.4f}** "
                f"(best validation {t['best_val_acc']:.4f}), {t['train_time_s']:.0f} s of training at "
                f"{t['throughput']:,.0f} img/s, {t['wall_s']:.0f} s in all."]
    out += ["", "## Targets (issue 12)", "", *targets(results), ""]
    return "\n".join(out)
