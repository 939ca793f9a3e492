"""Per-image test predictions: the predicted class of every test image, kept beside ``metrics.json``.

A run's accuracy alone cannot say how much of a difference between two arms is the luck of the 10,000 test
images, nor support a test over the images both arms saw (McNemar, a bootstrap over images). So the test
pass keeps each image's predicted class and its label, in the test split's order, in ``predictions.npz``
(compressed uint8 or int16 arrays ``pred`` and ``label``: about 11 KB for CIFAR-10), written atomically before the
record says ``completed``. A reader checks the file against the record: its accuracy must equal ``test_acc``.
"""
from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from jumpnet.atomic import write_bytes_atomic
from jumpnet.train.evaluate import autocast_for, pad_batch
from jumpnet.train.watchdog import heartbeat

PREDICTIONS = "predictions.npz"


@dataclass(frozen=True)
class Predictions:
    """The test split, image by image: the predicted class and the label (same order as the split)."""

    pred: np.ndarray
    label: np.ndarray

    @property
    def correct(self) -> np.ndarray:
        return self.pred == self.label

    @property
    def accuracy(self) -> float:
        return float(self.correct.sum()) / max(1, len(self.label))


@dataclass(frozen=True)
class Tested:
    """One pass over the test split: mean cross-entropy and each image's prediction."""

    loss: float
    predictions: Predictions


@torch.no_grad()
def predict(model: nn.Module, loader, mixed: bool = False,
            forward: Callable[[torch.Tensor], torch.Tensor] | None = None) -> Tested:
    """``jumpnet.train.evaluate.evaluate``'s pass (eval mode, padded batches of one shape), keeping each argmax.

    Its accuracy is the count of correct argmaxes over the images, as ``evaluate`` counts them.
    """
    forward = model if forward is None else forward
    was_training = model.training
    model.eval()
    size = min(int(loader.batch_size), loader.num_images)
    loss_sum = torch.zeros((), device=loader.device)
    preds, labels = [], []
    for x, y in loader:
        n = len(y)
        x, y = pad_batch(x, y, size)
        with autocast_for(loader.device, mixed):
            logits = forward(x)
        loss_sum += nn.functional.cross_entropy(logits.float(), y, reduction="sum", ignore_index=-100)
        preds.append(logits.argmax(1)[:n])
        labels.append(y[:n])
        heartbeat()
    model.train(was_training)
    pred = torch.cat(preds).cpu().numpy() if preds else np.zeros(0, np.int64)
    label = torch.cat(labels).cpu().numpy() if labels else np.zeros(0, np.int64)
    return Tested(loss_sum.item() / max(1, loader.num_images), Predictions(pred, label))


def compact(values: np.ndarray) -> np.ndarray:
    """Class indices in the smallest integer type that holds them (uint8 up to 255 classes)."""
    return values.astype(np.uint8 if values.size == 0 or values.max() < 256 else np.int16)


def write_predictions(run_dir: Path, predictions: Predictions) -> Path:
    """``predictions.npz`` in ``run_dir``, compressed, whole or not at all (``jumpnet.atomic``)."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, pred=compact(predictions.pred), label=compact(predictions.label))
    path = Path(run_dir) / PREDICTIONS
    write_bytes_atomic(path, buffer.getvalue())
    return path


class PredictionsInvalid(ValueError):
    """A predictions file that cannot be read, or that disagrees with its run's record."""


def read_predictions(run_dir: Path, test_acc: float | None = None) -> Predictions | None:
    """The run's predictions, None when it has none (a run recorded before they were kept).

    PredictionsInvalid (one line, naming the file) when the file cannot be read, its arrays differ in length, or
    its accuracy is not the record's ``test_acc``: then it belongs to another attempt or is damaged.
    """
    path = Path(run_dir) / PREDICTIONS
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            pred, label = np.asarray(data["pred"]).astype(np.int64), np.asarray(data["label"]).astype(np.int64)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        raise PredictionsInvalid(f"{path} cannot be read ({type(err).__name__}: {err})") from err
    if pred.shape != label.shape or pred.ndim != 1:
        raise PredictionsInvalid(f"{path} holds {pred.shape} predictions for {label.shape} labels")
    found = Predictions(pred, label)
    if test_acc is not None and abs(found.accuracy - float(test_acc)) > 0.5 / max(1, len(label)):
        raise PredictionsInvalid(f"{path}: accuracy {found.accuracy:.6f} over {len(label)} images is not the "
                                 f"record's test_acc {float(test_acc):.6f}")
    return found
