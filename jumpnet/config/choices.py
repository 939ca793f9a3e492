"""Every closed choice of the project, defined once: the schema types its fields with these, and the models,
the training loop, bench, gpucheck and the report import them from here.

Enums are what the config accepts (a typo fails when it is composed); the tuples are how messages and code
spell them. ``STUDY_MODELS`` is the study's model list, ``NEUTRAL_KEYS`` / ``NAMED_IN_FOLDER`` the keys outside
the schema's fields that leave a run's identity unchanged or that its folder names elsewhere
(``jumpnet.config.naming`` derives the keys run folders leave out from them and the schema's marks).
"""
from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Any


class Schedule(StrEnum):
    cosine = "cosine"
    step = "step"
    onecycle = "onecycle"


class Device(StrEnum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class Precision(StrEnum):
    auto = "auto"   # bf16 on CUDA and on CPUs with AMX or AVX-512 BF16 (jumpnet.train.precision), fp32 elsewhere
    fp32 = "fp32"
    bf16 = "bf16"   # bf16 autocast (BatchNorm and the loss stay fp32)


class Progress(StrEnum):
    auto = "auto"   # a bar on a terminal, log lines otherwise
    bar = "bar"
    log = "log"
    none = "none"


class Merge(StrEnum):
    concat = "concat"
    add = "add"


class Head(StrEnum):
    gap = "gap"
    fc = "fc"


class Match(StrEnum):
    params = "params"
    macs = "macs"


class GroupBy(StrEnum):
    arm = "arm"                 # W&B groups one arm's seeds: its grouped view shows their mean and spread
    experiment = "experiment"   # W&B groups a whole sweep


class WandbMode(StrEnum):
    offline = "offline"
    online = "online"
    disabled = "disabled"


def spelled(choices: Iterable[Any]) -> tuple[str, ...]:
    """Choices as a config spells them and a message lists them: ``true``/``false`` for bools, an enum's values."""
    return tuple(str(c).lower() if isinstance(c, bool) else str(c) for c in choices)


MERGES = spelled(Merge)           # how a model merges the tensors its links join
HEADS = spelled(Head)             # the task head: global average pooling or a hidden fully connected layer
SCHEDULES = spelled(Schedule)     # trainer.schedule
PRECISIONS = spelled(Precision)   # trainer.precision
COMPILE_MODES = ("default", "max-autotune", "reduce-overhead")  # torch.compile's modes (trainer.compile)
CHANNELS_LAST = ("auto", True, False)                            # trainer.channels_last
GROUP_BYS = spelled(GroupBy)      # logger.group_by
# The study's model families (conf/model/<name>.yaml), in the order tables list them; each YAML's ``display`` node
# says how reports print and draw it (MODEL_DISPLAY), so a new family needs no edit here or in the report.
STUDY_MODELS = ("jumpnet", "resnet_v2", "densenet", "sparsenet", "plain_cnn")
MODEL_DISPLAY = "display"         # model.display: {name, color, marker}; read by the report, never by a constructor

# Keys outside the schema's fields that leave what a run measures unchanged: where it runs, logs and writes. A group
# covers every key under it (``logger`` covers ``logger.mode``); the keys a command line sets are listed as well,
# because Hydra matches the keys it leaves out of folder names exactly.
NEUTRAL_KEYS = ("logger", f"model.{MODEL_DISPLAY}", "paths", "paths.data_dir", "paths.experiments_dir",
                "hydra/launcher",
                "hydra.launcher.timeout_min", "hydra.launcher.partition", "hydra.sweeper.max_batch_size")
# Keys that do change what a run is, but that a run folder's path names elsewhere, so its override levels leave
# them out: the sweep folder (``experiment``, ``name``) and ``<model>-<ablation label>-s<seed>`` (the label says
# every ablation field).
NAMED_IN_FOLDER = ("experiment", "name", "model", "ablation", "seed")
