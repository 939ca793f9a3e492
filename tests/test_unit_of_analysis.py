"""A result a reviewer accepts: the four flaws an audit of the report found, each on constructed runs, and the
tests over test images (bootstrap, McNemar) against independent computations.

1. the paired test's no-variance guard defeated by float noise;
2. duplicate (arm, seed) pairs silently cut to one;
3. runs on different data pooled into one arm;
4. diverged runs missing from the result.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from jumpnet.report import bootstrap, build_report
from jumpnet.report.ablation_table import ablations, variant_label
from jumpnet.report.comparisons import ablation_deltas
from jumpnet.report.stats import mcnemar
from jumpnet.report.units import PerImage
from jumpnet.run.predictions import Predictions, PredictionsInvalid, read_predictions, write_predictions

Q75 = "/shared/datasets/cifar10-jpeg.tar.xz"


def frame(rows: list[tuple]) -> pd.DataFrame:
    """Run rows as ``collect`` makes them: (model, ablation, seed, status, test_acc), one width, 10 classes."""
    runs = pd.DataFrame(rows, columns=["model", "ablation", "seed", "status", "test_acc"])
    runs["model"] = pd.Categorical(runs["model"], ordered=True)
    runs["ablation"] = pd.Categorical(runs["ablation"], categories=["full", "no_links", "add"], ordered=True)
    return runs.assign(width=1.0, setting="", params=1000, macs=10_000, flops=20_000, size_mb=1.0, epochs=2,
                       train_time_s=1.0, feature_map="8 x 4 x 4", match_width_mult=np.nan, match_ratio=np.nan,
                       run_dir=[f"/runs/{m}-{a}-s{s}-{i}" for i, (m, a, s, *_) in enumerate(rows)])


def write_run(root: Path, model: str, ablation: str, seed: int, acc: float | None, status: str = "completed",
              data_id: str = "sha256:" + "a" * 64, archive: str | None = Q75) -> Path:
    """A run folder as a finished run leaves it: ``metrics.json`` and ``.hydra/config.yaml`` (whose
    ``data.archive`` stays unresolved, as Hydra writes it)."""
    run = root / f"{model}-{ablation}-s{seed}"
    (run / ".hydra").mkdir(parents=True)
    (run / "metrics.json").write_text(json.dumps({
        "model": model, "ablation": ablation, "seed": seed, "status": status, "params": 1000, "macs": 10_000,
        "flops": 20_000, "feature_map": [8, 4, 4], "size_mb": 1.0, "test_acc": acc, "test_loss": 0.5, "epochs": 2,
        "train_time_s": 1.0, "data_id": data_id, "data_archive": archive, "width_mult": 1.0}))
    links = ablation != "no_links"
    (run / ".hydra" / "config.yaml").write_text(yaml.safe_dump({
        "name": root.name, "seed": seed, "model": {"name": model, "width_mult": 1.0},
        "ablation": {"name": ablation, "links": links, "merge": None, "head": None, "match": None, "residual": True},
        "data": {"name": "cifar10", "archive": "${oc.env:JUMPNET_DATA_ARCHIVE,null}", "test_subset": None,
                 "num_classes": 10, "val_size": 5000},
        "trainer": {"epochs": 300, "schedule": "step", "lr": 0.1, "batch_size": 128}}))
    return run


def test_flaw_1_a_constant_gap_of_ten_images_is_no_paired_test() -> None:
    """10 fewer correct images on every seed: differences -0.1 +- float noise, which scipy calls p = 2e-27."""
    counts = [9013, 9021, 9044]
    runs = frame([*[("m", "full", s, "completed", c / 10_000) for s, c in enumerate(counts)],
                  *[("m", "no_links", s, "completed", (c - 10) / 10_000) for s, c in enumerate(counts)]])
    diffs = [(c - 10) / 10_000 * 100 - c / 10_000 * 100 for c in counts]  # as the percentages subtract
    assert np.var(diffs) > 0 and stats.ttest_1samp(diffs, 0).pvalue < 1e-20  # the noise the guard must see past
    row = ablation_deltas(runs).set_index("ablation").loc["no_links"]
    assert row["pairs"] == 3 and math.isnan(row["p_paired"])  # a dash, not p = 2e-27
    assert row["delta"] == pytest.approx(-0.1)
    md = ablations(ablation_deltas(runs), "test data").markdown()
    assert "e-27" not in md and "0.000" not in md
    # with per-image predictions the paired test runs on the integer counts themselves
    label = np.zeros(10_000, dtype=np.int64)
    per_image = PerImage({d: Predictions(np.where(np.arange(10_000) < round(acc * 10_000), 0, 1), label)
                          for d, acc in zip(runs["run_dir"], runs["test_acc"])})
    arms = ablation_deltas(runs, per_image=per_image).set_index("ablation")
    assert arms.loc["no_links", "pairs"] == 3 and math.isnan(arms.loc["no_links", "p_paired"])
    assert arms.loc["no_links", "boot_low"] < -0.1 < arms.loc["no_links", "boot_high"]  # seeds resampled per arm


def test_flaw_2_a_seed_run_twice_is_one_unit_averaged_and_both_folders_are_named(tmp_path: Path) -> None:
    """``experiments/ablation`` beside ``experiments/budget``: the width-1.0 full arms are the same config."""
    accs = {"ablation": {"full": [0.900, 0.905, 0.910], "no_links": [0.885, 0.890, 0.900]},
            "budget": {"full": [0.902, 0.911, 0.913], "no_links": [0.880, 0.894, 0.903]}}
    for sweep, arms in accs.items():
        for ablation, values in arms.items():
            for seed, acc in enumerate(values):
                write_run(tmp_path / sweep, "jumpnet", ablation, seed, acc)
    report = build_report([tmp_path / "ablation", tmp_path / "budget"], tmp_path / "report")
    arms = report.arms.set_index("ablation")
    row = arms.loc["no_links"]
    assert row["delta"] == pytest.approx(row["acc_mean"] - arms.loc["full", "acc_mean"])  # the means agree with Δ
    seeds = {a: [50 * (accs["ablation"][a][s] + accs["budget"][a][s]) for s in range(3)] for a in ("full", "no_links")}
    for ablation in ("full", "no_links"):
        assert arms.loc[ablation, "n"] == 3 and arms.loc[ablation, "n_runs"] == 6
        assert arms.loc[ablation, "acc_mean"] == pytest.approx(np.mean(seeds[ablation]))
    welch = stats.ttest_ind(seeds["no_links"], seeds["full"], equal_var=False)
    assert row["p"] == pytest.approx(welch.pvalue) and row["pairs"] == 3
    table = (tmp_path / "report" / "table_ablations.md").read_text()
    assert "| 3 (6 runs) " in table
    readme = (tmp_path / "report" / "README.md").read_text()
    section = readme[readme.index("## Seeds run more than once"):]
    for seed in range(3):
        for ablation in ("full", "no_links"):
            both = [str(tmp_path / sweep / f"jumpnet-{ablation}-s{seed}") for sweep in accs]
            assert f"`{both[0]}`, `{both[1]}`" in section


def test_flaw_3_runs_on_other_data_are_another_arm_labelled_by_their_data(tmp_path: Path) -> None:
    """Two seeds on the JPEG q75 copy and one on torchvision's CIFAR-10: never one arm."""
    sweep = tmp_path / "mixed"
    original = {"data_id": f"cifar10 (torchvision) in {tmp_path}/data", "archive": None}
    write_run(sweep / "a", "jumpnet", "full", 0, 0.900)
    write_run(sweep / "a", "jumpnet", "full", 1, 0.904)
    write_run(sweep / "b", "jumpnet", "full", 2, 0.935, **original)
    for seed, acc in enumerate([0.880, 0.886]):
        write_run(sweep / "a", "jumpnet", "no_links", seed, acc)
    report = build_report([sweep], tmp_path / "report")
    arms = report.arms
    full = arms[arms["ablation"] == "full"].set_index("setting")
    assert len(full) == 2 and sorted(full["n"]) == [1, 2]
    q75 = next(s for s in full.index if "cifar10-jpeg.tar.xz@aaaaaaaa" in s)
    assert "data=cifar10 (torchvision)" in next(s for s in full.index if s != q75)
    no_links = arms[arms["ablation"] == "no_links"].iloc[0]
    assert no_links["setting"] == q75 and no_links["delta"] == pytest.approx(88.3 - 90.2)
    assert report.runs.setting_columns == ["data"]
    assert "data=cifar10-jpeg.tar.xz@aaaaaaaa" in (tmp_path / "report" / "table_ablations.md").read_text()


def test_flaw_4_diverged_runs_are_part_of_the_result() -> None:
    """The divergence rate with its exact interval, and a sensitivity row counting diverged runs at chance."""
    runs = frame([("m", "full", 0, "completed", 0.900), ("m", "full", 1, "completed", 0.905),
                  ("m", "full", 2, "completed", 0.910),
                  ("m", "no_links", 0, "completed", 0.700), ("m", "no_links", 1, "completed", 0.705),
                  ("m", "no_links", 2, "diverged", None)])
    arms = ablation_deltas(runs)
    row = arms.set_index("ablation").loc["no_links"]
    exact = stats.binomtest(1, 3).proportion_ci(confidence_level=0.95, method="exact")
    assert row["div_rate"] == pytest.approx(1 / 3)
    assert (row["div_low"], row["div_high"]) == pytest.approx((exact.low, exact.high))
    at_chance = [70.0, 70.5, 10.0]  # the diverged seed at 1 in 10 classes
    assert row["sens_mean"] == pytest.approx(np.mean(at_chance))
    assert row["sens_delta"] == pytest.approx(np.mean(at_chance) - 90.5)
    assert row["sens_p"] == pytest.approx(stats.ttest_ind(at_chance, [90.0, 90.5, 91.0], equal_var=False).pvalue)
    md = ablations(arms, "test data").markdown()
    assert f"1/3 [{exact.low:.0%}, {exact.high:.0%}]" in md
    assert all(ord(c) < 128 for c in ablations(arms, "test data").latex())  # pdflatex-safe: every symbol spelled
    sens = next(line for line in md.splitlines() if "↳ diverged at chance" in line)
    assert f"{np.mean(at_chance):.2f} ± {np.std(at_chance, ddof=1):.2f}" in sens and "3 (incl. 1 diverged)" in sens


def correctness(rng: np.random.Generator, images: int, seeds: int, skill: float) -> list[np.ndarray]:
    """Per-seed 0/1 vectors over shared images: each image's difficulty is common to every run, as on a test set."""
    difficulty = np.linspace(-3, 3, images)
    return [(rng.random(images) < 1 / (1 + np.exp(difficulty - skill - rng.normal(0, 0.1)))).astype(float)
            for _ in range(seeds)]


def naive_bootstrap(a: list[np.ndarray], b: list[np.ndarray], reps: int, seed: int) -> np.ndarray:
    """The reference: per replicate, draw seeds of each arm and one set of image indices, and average."""
    rng, n = np.random.default_rng(seed), len(a[0])
    out = np.empty(reps)
    for r in range(reps):
        images = rng.integers(0, n, n)
        pick_a, pick_b = rng.integers(0, len(a), len(a)), rng.integers(0, len(b), len(b))
        out[r] = 100 * (np.mean([a[i][images].mean() for i in pick_a]) - np.mean([b[i][images].mean() for i in pick_b]))
    return out


def test_the_bootstrap_over_seeds_and_images_matches_a_direct_resampling() -> None:
    rng = np.random.default_rng(0)
    a, b = correctness(rng, 2000, 3, 0.3), correctness(rng, 2000, 2, 0.0)
    mine = bootstrap.difference(a, b, reps=4000, seed=1)
    ref = naive_bootstrap(a, b, 4000, seed=2)
    sd = ref.std(ddof=1)
    assert mine.se == pytest.approx(sd, rel=0.06)
    assert (mine.low, mine.high) == pytest.approx(tuple(np.percentile(ref, [2.5, 97.5])), abs=0.25 * sd)
    # one seed per arm: the image level alone, whose variance is known exactly: var(d) / N over the images
    one = bootstrap.difference(a[:1], b[:1], reps=4000, seed=3)
    d = 100 * (a[0] - b[0])
    assert one.se == pytest.approx(d.std() / math.sqrt(len(d)), rel=0.04)
    assert bootstrap.difference(a, b, reps=500, seed=1) == bootstrap.difference(a, b, reps=500, seed=1)  # repeatable


def test_mcnemar_is_the_exact_binomial_test_of_the_discordant_images() -> None:
    a = np.array([1] * 15 + [0] * 5 + [1] * 70 + [0] * 10, dtype=bool)  # 15 only a, 5 only b, 80 agree
    b = np.array([0] * 15 + [1] * 5 + [1] * 70 + [0] * 10, dtype=bool)
    p, only_a, only_b = mcnemar(a, b)
    by_hand = min(1.0, 2 * sum(math.comb(20, i) for i in range(6)) / 2 ** 20)
    assert (only_a, only_b) == (15, 5) and p == pytest.approx(by_hand) and by_hand == pytest.approx(0.04138946533)
    assert p == pytest.approx(stats.binomtest(5, 20, 0.5).pvalue)
    assert mcnemar(a, a)[0] == 1.0  # no discordant image: nothing against the null


def test_runs_with_predictions_get_mcnemar_and_the_bootstrap_old_runs_are_marked(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    label = rng.integers(0, 10, 1000)
    sweep = tmp_path / "sweep"
    kept = {}
    for ablation, skill in (("full", 0.8), ("no_links", 0.74), ("add", 0.79)):
        correct = rng.random(1000) < skill
        pred = np.where(correct, label, (label + 1) % 10)
        run = write_run(sweep, "jumpnet", ablation, 0, float(correct.mean()))
        write_predictions(run, Predictions(pred, label))
        kept[ablation] = correct
    write_run(sweep, "jumpnet", "add", 1, 0.79)  # an old run: no predictions.npz
    report = build_report([sweep], tmp_path / "report")
    arms = report.arms.set_index("ablation")
    no_links = arms.loc["no_links"]
    assert no_links["test"] == "McNemar" and no_links["p"] == pytest.approx(mcnemar(kept["no_links"], kept["full"])[0])
    assert no_links["boot_low"] < no_links["delta"] < no_links["boot_high"]
    assert np.isnan(arms.loc["add", "boot_low"])  # seed 1 of add has no per-image predictions
    table = (tmp_path / "report" / "table_ablations.md").read_text()
    assert " McNemar" in table and "— †" in table
    readme = (tmp_path / "report" / "README.md").read_text()
    assert f"`{sweep / 'jumpnet-add-s1'}`: no predictions.npz" in readme
    bad = sweep / "jumpnet-full-s0"
    write_predictions(bad, Predictions(label, label))  # all correct: not the record's test_acc
    with pytest.raises(PredictionsInvalid, match="is not the record's test_acc"):
        read_predictions(bad, json.loads((bad / "metrics.json").read_text())["test_acc"])


def test_labels_say_what_an_arm_builds() -> None:
    """DenseNet-BC's no_links is a plain chain 12 wide (20 when params-matched): the label says so; a matched
    JumpNet's narrower head is its width alone."""
    def label(variant: str, fmap: str, full: str, built: float | None = None) -> str:
        return variant_label(pd.Series({"ablation": variant, "match_width_mult": built, "width": 1.0,
                                        "feature_map": fmap}), full)

    assert label("no_links", "12 x 8 x 8", "342 x 8 x 8") == "no_links [plain chain, 12×8×8]"
    matched = "no_links_matched (×1.64) [plain chain, 20×8×8]"
    assert label("no_links_matched", "20 x 8 x 8", "342 x 8 x 8", 1.64) == matched
    assert label("add", "12 x 8 x 8", "342 x 8 x 8") == "add [summed, 12×8×8]"
    assert label("add_matched", "28 x 8 x 8", "32 x 8 x 8", 0.9) == "add_matched (×0.9) [28×8×8]"
    assert label("no_links", "256 x 4 x 4", "256 x 4 x 4") == "no_links"  # JumpNet's: the same map
