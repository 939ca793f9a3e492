"""The fast path (``BatchLoader``) and the plain loop (``PlainLoader``) train the same thing.

Both must serve the same data distribution: random crop after zero padding,
horizontal flip, the same normalization; in order and unaugmented for
evaluation. And a short seeded run through the real ``Trainer`` must reach the
same accuracy on either path.

Parity tolerances: ``ACC_TOLERANCE`` = 0.15 absolute test accuracy and
``LOSS_TOLERANCE`` = 0.10 in the last epoch's training loss. Measured on this
setup (tiny JumpNet, 512 synthetic training images, 4 epochs of batch 64, 512
test images, 2 CPU threads) over seeds 0-3, fast minus plain was +0.100,
+0.002, +0.100, -0.006 in test accuracy (accuracies 0.20-0.59) and at most
0.067 in training loss. So early in training, test accuracy swings by up to
0.10 between the two paths' different random draws (shuffle, crops, flips):
they agree statistically, not bitwise.
"""
from __future__ import annotations

import numpy as np
import torch
from omegaconf import OmegaConf
from scipy import stats

from jumpnet.config.compose import compose_config
from jumpnet.data import load_arrays, make_splits
from jumpnet.data.fast_loader import BatchLoader
from jumpnet.data.loaders import make_loaders
from jumpnet.data.plain_loader import PlainLoader
from jumpnet.data.splits import Splits
from jumpnet.models.factory import build_model
from jumpnet.train.evaluate import evaluate
from jumpnet.train.loop import Trainer
from jumpnet.train.memory_format import memory_format_for
from tests.conftest import TINY_JUMPNET

CPU = torch.device("cpu")
PAD, SIZE = 4, 32
ACC_TOLERANCE = 0.15
LOSS_TOLERANCE = 0.10
PARITY_DATA = ["data=synthetic", "data.train_size=512", "data.val_size=0", "data.test_size=512"]
PARITY_TRAINER = ["trainer.epochs=4", "trainer.batch_size=64", "trainer.progress=none", "trainer.resume=false",
                  "trainer.threads=1", "logger=none"]


def loader_cfg(fast: bool, crop_padding: int = PAD, flip: bool = True):
    trainer = OmegaConf.create({"fast": fast, "batch_size": 128, "eval_batch_size": 256,
                                "workers": None})
    data = OmegaConf.create({"crop_padding": crop_padding, "flip": flip})
    return data, trainer


def marker_splits(n: int) -> Splits:
    """Images that encode their own coordinates: R = row + 1, G = column + 1, B = 200 (0 marks padding)."""
    rows, cols = np.meshgrid(np.arange(SIZE), np.arange(SIZE), indexing="ij")
    img = np.stack([rows + 1, cols + 1, np.full_like(rows, 200)], -1).astype(np.uint8)
    x = np.repeat(img[None], n, 0)
    y = np.arange(n) % 10
    return Splits(x, y, x[:0], y[:0], x[:n // 4], y[:n // 4], [str(i) for i in range(10)], False)


def decode(batch: torch.Tensor) -> list[tuple[int, int, bool]]:
    """(dy, dx, flipped) of each augmented marker image; asserts it is exactly a zero-padded shift (+ flip)."""
    out = []
    for img in batch:
        v = (img.float() * 255).round().long()  # mean 0, std 1: the loader's output is value / 255
        r, g, b = v
        inside = (b == 200).nonzero()
        r0, c0 = inside[0].tolist()
        c1 = inside[:, 1].max().item()
        flipped = bool(g[r0, c1] < g[r0, c0]) if c1 > c0 else False
        dy = int(r[r0, c0]) - 1 - r0 + PAD
        src_c = int(g[r0, c0]) - 1
        dx = src_c - (SIZE - 1 - c0) + PAD if flipped else src_c - c0 + PAD
        # rebuild what a zero-padded crop at (dy, dx), then the flip, gives, and compare every pixel
        rows = torch.arange(SIZE)[:, None] + dy - PAD
        cols = torch.arange(SIZE)[None, :] + dx - PAD
        if flipped:
            cols = cols.flip(1)
        valid = (rows >= 0) & (rows < SIZE) & (cols >= 0) & (cols < SIZE)
        expect = torch.stack([torch.where(valid, rows + 1, 0), torch.where(valid, cols + 1, 0),
                              torch.where(valid, 200, 0)])
        assert torch.equal(v, expect.expand_as(v)), "augmentation is not a zero-padded crop plus flip"
        out.append((dy, dx, flipped))
    return out


def augmentations(fast: bool, n: int = 512, epochs: int = 2) -> np.ndarray:
    splits = marker_splits(n)
    cls = BatchLoader if fast else PlainLoader
    train = cls(splits.x_train, splits.y_train, 128, CPU, [0.0] * 3, [1.0] * 3, train=True, crop_padding=PAD,
                flip=True, seed=3)
    return np.array([d for _ in range(epochs) for x, _ in train for d in decode(x)])


def test_make_loaders_picks_the_path_from_trainer_fast():
    splits = marker_splits(256)
    for fast, cls in ((True, BatchLoader), (False, PlainLoader)):
        train, val, test = make_loaders(splits, *loader_cfg(fast), seed=0, device=CPU, channels_last=True)
        assert isinstance(train, cls) and isinstance(test, cls) and val is None
        assert len(train) == 2 and train.num_images == 256 and train.device == CPU
        assert isinstance(train.generator, torch.Generator)
        x, y = next(iter(train))
        assert x.dtype == torch.float32 and x.shape == (128, 3, SIZE, SIZE) and y.dtype == torch.int64
        assert x.is_contiguous(memory_format=torch.channels_last)


def test_evaluation_batches_are_identical_on_both_paths():
    arrays = load_arrays(compose_config(["data=synthetic", "data.train_size=300", "data.test_size=300"]).data)
    splits = make_splits(arrays, 0, None, None)
    (_, _, fast), (_, _, plain) = (make_loaders(splits, *loader_cfg(f), seed=0, device=CPU) for f in (True, False))
    assert len(fast) == len(plain) == 2 and fast.num_images == plain.num_images == 300
    for (xf, yf), (xp, yp) in zip(fast, plain, strict=True):
        assert torch.equal(yf, yp)
        torch.testing.assert_close(xf, xp, atol=1e-5, rtol=0)


def test_both_augmentations_have_the_same_distribution():
    """Crop offsets uniform on 0..2p in each axis, flips with probability 1/2, on both paths and alike."""
    draws = {"fast": augmentations(True), "plain": augmentations(False)}
    for name, d in draws.items():
        for axis in (0, 1):
            counts = np.bincount(d[:, axis], minlength=2 * PAD + 1)
            assert len(counts) == 2 * PAD + 1, f"{name}: offsets outside 0..{2 * PAD}"
            assert stats.chisquare(counts).pvalue > 1e-3, f"{name}: crop offsets not uniform: {counts}"
        assert abs(d[:, 2].mean() - 0.5) < 4 * 0.5 / np.sqrt(len(d)), f"{name}: flip rate {d[:, 2].mean():.3f}"
        assert stats.pearsonr(d[:, 0], d[:, 1]).pvalue > 1e-3, f"{name}: dy and dx are correlated"
    for axis in (0, 1, 2):  # the two paths against each other
        table = [np.bincount(d[:, axis].astype(int), minlength=2 * PAD + 1) for d in draws.values()]
        table = np.array(table)[:, np.array(table).sum(0) > 0]
        assert stats.chi2_contingency(table).pvalue > 1e-3, f"axis {axis}: fast and plain differ: {table}"


def test_normalized_training_batches_have_the_same_statistics():
    arrays = load_arrays(compose_config(["data=synthetic", "data.train_size=1024", "data.test_size=10"]).data)
    splits = make_splits(arrays, 0, None, None)
    moments = {}
    for fast in (True, False):
        train, _, _ = make_loaders(splits, *loader_cfg(fast), seed=1, device=CPU)
        x = torch.cat([xb for _ in range(2) for xb, _ in train])
        moments[fast] = (x.mean((0, 2, 3)), x.std((0, 2, 3)), (x == x.amin()).float().mean())
    for a, b in zip(moments[True], moments[False]):
        torch.testing.assert_close(a, b, atol=0.02, rtol=0)


def test_plain_loader_generator_replays_the_shuffle_for_resume():
    splits = marker_splits(512)
    train, _, _ = make_loaders(splits, *loader_cfg(False), seed=5, device=CPU)
    first = torch.cat([y for _, y in train])
    state = train.generator.get_state()
    second = torch.cat([y for _, y in train])
    train.generator.set_state(state)
    assert torch.equal(torch.cat([y for _, y in train]), second) and not torch.equal(first, second)


def train_once(fast: bool, seed: int, tmp_path) -> tuple[float, dict]:
    cfg = compose_config([*PARITY_DATA, *TINY_JUMPNET, *PARITY_TRAINER, f"trainer.fast={str(fast).lower()}",
                          f"seed={seed}"])
    torch.set_num_threads(int(cfg.trainer.threads))
    torch.manual_seed(seed)
    splits = make_splits(load_arrays(cfg.data), int(cfg.data.val_size))
    model = build_model(cfg)
    memory_format = memory_format_for(model, cfg.trainer.channels_last, CPU)
    model = model.to(memory_format=memory_format)
    train, val, test = make_loaders(splits, cfg.data, cfg.trainer, seed, CPU, memory_format == torch.channels_last)
    trainer = Trainer(model, train, val, cfg.trainer, cfg.optimizer, tmp_path / f"{fast}-{seed}.pt")
    fit = trainer.fit()
    assert fit.status == "completed" and fit.throughput > 0
    return evaluate(model, test)[1], {"throughput": fit.throughput, "train_loss": fit.history[-1]["train_loss"]}


def test_short_training_run_reaches_the_same_accuracy_on_both_paths(tmp_path):
    fast_acc, fast = train_once(True, 1, tmp_path)
    plain_acc, plain = train_once(False, 1, tmp_path)
    assert fast_acc > 0.3 and plain_acc > 0.3, (fast_acc, plain_acc)  # both learned (chance is 0.1)
    assert abs(fast_acc - plain_acc) <= ACC_TOLERANCE, (fast_acc, plain_acc)
    assert abs(fast["train_loss"] - plain["train_loss"]) <= LOSS_TOLERANCE, (fast, plain)
