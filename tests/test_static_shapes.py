"""Static shapes for torch.compile and CUDA graphs: one training batch shape, every image still used,
evaluation padded without changing its results."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from jumpnet.config.compose import compose_config
from jumpnet.data.fast_loader import BatchLoader
from jumpnet.data.loaders import make_loaders
from jumpnet.data.splits import Splits
from jumpnet.models.factory import build_model
from jumpnet.train.evaluate import evaluate, pad_batch
from tests.conftest import TINY_JUMPNET

CPU = torch.device("cpu")


def numbered_splits(n: int) -> Splits:
    """Images whose label is their index, so a batch says which images it holds."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    y = np.arange(n)
    return Splits(x, y, x[:0], y[:0], x, y, [str(i) for i in range(n)], False)


@pytest.mark.parametrize("fast", [True, False])
def test_training_batches_have_one_shape_and_every_image_is_seen_over_epochs(fast):
    splits = numbered_splits(100)
    trainer = OmegaConf.create({"fast": fast, "batch_size": 32, "eval_batch_size": 64, "channels_last": True,
                                "workers": 0})
    train, _, test = make_loaders(splits, OmegaConf.create({"crop_padding": 4, "flip": True}), trainer, 0, CPU)
    assert len(train) == 3  # 100 // 32: the ragged batch of 4 is dropped
    epochs = [[y for _, y in train] for _ in range(6)]
    assert all(len(y) == 32 for batches in epochs for y in batches)
    served = [torch.cat(batches) for batches in epochs]
    assert all(len(set(s.tolist())) == 96 for s in served)          # no image twice in an epoch
    assert len({tuple(s.tolist()) for s in served}) == 6            # reshuffled every epoch
    assert set(torch.cat(served).tolist()) == set(range(100))       # so none is left out for good
    assert sum(len(y) for _, y in test) == 100                      # evaluation keeps every image


def test_a_split_smaller_than_one_batch_is_one_batch():
    splits = numbered_splits(20)
    loader = BatchLoader(splits.x_train, splits.y_train, 32, CPU, [0.5] * 3, [0.25] * 3, train=True, drop_last=True)
    assert [len(y) for _, y in loader] == [20]


def test_pad_batch_keeps_the_format_and_marks_padding_to_be_ignored():
    x = torch.randn(5, 3, 8, 8).contiguous(memory_format=torch.channels_last)
    y = torch.arange(5)
    px, py = pad_batch(x, y, 8)
    assert px.shape == (8, 3, 8, 8) and px.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(px[:5], x) and not px[5:].any()
    assert py.tolist() == [0, 1, 2, 3, 4, -100, -100, -100]
    assert pad_batch(x, y, 5)[0] is x


def test_padded_evaluation_equals_unpadded_evaluation(one_thread):
    cfg = compose_config(TINY_JUMPNET)
    torch.manual_seed(0)
    model = build_model(cfg).to(memory_format=torch.channels_last)
    splits = numbered_splits(100)
    labels = splits.y_test % 10
    common = dict(device=CPU, mean=[0.5] * 3, std=[0.25] * 3, channels_last=True)
    ragged = BatchLoader(splits.x_test, labels, 48, **common)      # 48, 48, then 4 padded to 48
    whole = BatchLoader(splits.x_test, labels, 100, **common)      # one batch: nothing to pad
    assert [len(y) for _, y in ragged] == [48, 48, 4]
    shapes = []
    model.register_forward_hook(lambda m, inp, out: shapes.append(inp[0].shape[0]))
    loss, acc = evaluate(model, ragged)
    assert shapes == [48, 48, 48], "the last batch reaches the model padded to the batch size"
    ref_loss, ref_acc = evaluate(model, whole)
    with torch.no_grad():
        logits = model.eval()(torch.cat([x for x, _ in whole]).contiguous(memory_format=torch.channels_last))
    by_hand = torch.nn.functional.cross_entropy(logits, torch.from_numpy(labels)).item()
    assert acc == ref_acc == (logits.argmax(1).numpy() == labels).mean()
    assert loss == pytest.approx(ref_loss, rel=1e-5) and loss == pytest.approx(by_hand, rel=1e-5)
