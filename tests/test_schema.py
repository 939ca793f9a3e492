"""The typed config (jumpnet/config/schema.py): typos fail when the config is composed, every option is typed,
the fields other work relies on are accepted, and checks.py keeps only what spans several fields."""
from __future__ import annotations

import dataclasses

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from jumpnet.config import choices, schema
from jumpnet.config.compose import compose_config
from jumpnet.config.naming import folder_excluded_keys, is_neutral, neutral_keys
from jumpnet.errors import ConfigError
from jumpnet.models.layers import ClassifierHead, merge
from jumpnet.models.network import Network
from jumpnet.paths import CONF_DIR
from jumpnet.run.spec import check_run_config
from jumpnet.train.compile import compile_mode
from jumpnet.train.memory_format import use_channels_last
from jumpnet.train.optim import build_scheduler
from tests.conftest import TEST_CONF, TINY_DATA, WITH_TEST_CONF

# The keys run folder names leave out. Pinned: adding one renames the folders of every config that overrides it.
FOLDER_EXCLUDED = {
    # named elsewhere in the folder's path: the sweep folder, <model>-<ablation label>-s<seed>
    "experiment", "name", "model", "ablation", "ablation.name", "ablation.links", "ablation.merge", "ablation.head",
    "ablation.match", "ablation.residual", "seed",
    # neutral: how or where a run trains, logs and writes, never what it measures
    "logger", "logger.name", "logger.mode", "logger.project", "logger.entity", "logger.group", "logger.tags",
    "logger.log_checkpoint", "logger.group_by", "model.display", "trainer.device", "trainer.resume",
    "trainer.overwrite", "trainer.progress",
    "trainer.threads", "trainer.stall_timeout_s", "trainer.compile", "trainer.runs_per_gpu", "data.archive",
    "data.root", "data.download", "paths", "paths.experiments_dir", "paths.data_dir", "hydra/launcher",
    "hydra.launcher.timeout_min", "hydra.launcher.partition", "hydra.sweeper.max_batch_size",
    # the study's design, read by make plan and the report: a run measures the same whatever it says
    "plan.primary", "plan.target_delta", "plan.sigma", "plan.budgets"}

GROUPS = {"data": schema.DataConf, "ablation": schema.AblationConf, "logger": schema.LoggerConf}


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_every_option_of_a_schematized_group_is_typed(group):
    for path in sorted((CONF_DIR / group).glob("*.yaml")):
        cfg = compose_config([f"{group}={path.stem}"])
        assert issubclass(OmegaConf.get_type(cfg[group]), GROUPS[group]), path
    assert OmegaConf.get_type(compose_config([]).trainer) is schema.TrainerConf


def test_every_choice_the_schema_defines_works_where_it_is_used():
    """Each closed choice is defined once (jumpnet.config.choices); the code that uses it takes every value it lists."""
    pair = [torch.ones(1, 2, 4, 4)] * 2
    assert [tuple(merge(pair, m).shape) for m in choices.MERGES] == [(1, 4, 4, 4), (1, 2, 4, 4)]  # concat, add
    assert all(ClassifierHead((2, 4, 4), 3, h)(pair[0]).shape == (1, 3) for h in choices.HEADS)
    for schedule in choices.SCHEDULES:
        optimizer = torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], lr=0.1)
        build_scheduler(optimizer, compose_config([f"trainer.schedule={schedule}"]).trainer, steps_per_epoch=2)
        assert 0 < optimizer.param_groups[0]["lr"] <= 0.1, schedule
    assert [compile_mode(m) for m in choices.COMPILE_MODES] == list(choices.COMPILE_MODES)
    assert [use_channels_last(c, torch.device("cuda")) for c in choices.CHANNELS_LAST] == [True, True, False]
    assert all((CONF_DIR / "model" / f"{m}.yaml").exists() for m in choices.STUDY_MODELS)
    with pytest.raises(ValueError, match=r"unknown merge 'sum'; choose one of \('concat', 'add'\)"):
        merge(pair, "sum")


def test_a_family_that_names_a_choice_the_schema_lacks_fails_when_it_is_defined():
    with pytest.raises(TypeError, match=r"Summing names \['sum', 'mlp'\]: not among the schema's merges"):
        class Summing(Network):
            merges = ("add", "sum")
            own_head = "mlp"


def test_identity_neutral_keys_are_declared_once_and_every_tool_reads_them():
    """Neutral keys (schema fields marked identity=False, NEUTRAL_KEYS) vs keys the folder names elsewhere."""
    assert set(folder_excluded_keys()) == FOLDER_EXCLUDED
    assert {"trainer.compile", "trainer.runs_per_gpu", "data.archive", "logger.mode"} <= set(neutral_keys())
    for key in ("trainer.compile", "+trainer.runs_per_gpu=2", "logger.tags", "hydra.launcher.cpus_per_task", "paths"):
        assert is_neutral(key), key
    for key in ("seed", "model", "model.width_mult", "ablation.merge", "name", "experiment", "trainer.epochs",
                "trainer.channels_last", "data.val_size", "data", "trainer"):
        assert not is_neutral(key), key   # part of what a run is, even where its folder names it elsewhere


def test_hydra_leaves_the_neutral_and_the_named_keys_out_of_the_folder_name():
    """``exclude_keys: ${folder_excluded_keys:}`` in conf/config.yaml, resolved by Hydra itself."""
    overrides = ["trainer.compile=default", "trainer.runs_per_gpu=2", "data.root=elsewhere", "logger=none",
                 "seed=3", "ablation=add", "trainer.epochs=2", "data.val_size=10"]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides, return_hydra_config=True)
    assert cfg.hydra.job.override_dirname == "data.val_size=10,trainer.epochs=2"


@pytest.mark.parametrize("override", ["trainer.epochs=abc", "trainer.epoch=2", "trainer.schedule=cosin",
                                      "trainer.device=gpu", "trainer.progress=quiet", "ablation.merge=sum",
                                      "ablation.head=mlp", "logger.mode=offlne", "data.flip=maybe",
                                      "data.train_size=10", "logger.tags=[a]"])
def test_a_typo_fails_when_the_config_is_composed(override):
    extra = ["logger=none"] if override.startswith("logger.tags") else []
    with pytest.raises(ConfigCompositionException):
        compose_config([*extra, override])


@pytest.mark.parametrize("overrides", [
    ["trainer.channels_last=auto"], ["trainer.channels_last=true"], ["trainer.channels_last=false"],
    ["trainer.stall_timeout_s=null"], ["trainer.stall_timeout_s=60"], ["trainer.runs_per_gpu=3"],
    ["trainer.compile=max-autotune"], ["trainer.compile=reduce-overhead"], ["trainer.compile=default"],
    ["trainer.compile=true"], ["ablation.match=params"], ["ablation.match=macs"], ["ablation.residual=false"],
    ["trainer.deterministic=true"], ["trainer.schedule=onecycle"], [*TINY_DATA, "data.train_subset=100"],
])
def test_fields_other_work_relies_on_are_accepted(overrides):
    cfg = compose_config([*overrides, "data=synthetic"] if "data=synthetic" not in overrides else overrides)
    schema.check_fields(cfg)


def test_defaults_of_fields_still_without_a_yaml_line():
    t, ab = compose_config([]).trainer, compose_config([]).ablation
    assert t.stall_timeout_s == 1800.0 and t.runs_per_gpu == 1 and t.deterministic is False
    assert ab.match is None and ab.residual is True


@pytest.mark.parametrize("override,message", [
    ("trainer.channels_last=maybe", "trainer.channels_last='maybe' is not one of auto, true, false"),
    ("trainer.compile=max_autotune", "trainer.compile='max_autotune' is not one of false, true, default, "
                                     "max-autotune, reduce-overhead; did you mean max-autotune?"),
    ("trainer.lr=0", "trainer.lr=0.0 must be > 0"),
    ("trainer.batch_size=1", "trainer.batch_size=1 must be >= 2 (BatchNorm needs 2 images)"),
    ("trainer.label_smoothing=1", "trainer.label_smoothing=1.0 must be < 1"),
    ("data.val_size=-1", "data.val_size=-1 must be >= 0 (0 selects the last epoch)"),
    ("seed=abc", "seed='abc' must be an integer"),
    ("+trainer.epoch=2", "trainer.epoch is not a trainer field; did you mean trainer.epochs?"),
    ("+model.stems=[4,8]", "model.stems is not a parameter of JumpNet; did you mean model.stem?"),
    # what spans several fields stays in checks.py
    ("trainer.warmup_epochs=30", "trainer.warmup_epochs=30.0 leaves nothing of trainer.epochs=30 to the schedule"),
    ("trainer.early_stopping=3", "trainer.early_stopping=3 needs a validation split, but data.val_size=0"),
    ("trainer.milestones=[0.5,75]", "trainer.milestones=[0.5, 75.0]: [75.0] not fractions of training in (0, 1)"),
])
def test_values_the_types_cannot_refuse_are_refused_before_any_work(override, message):
    extra = ["data.val_size=0"] if "early_stopping" in override else []
    extra += ["trainer.schedule=step"] if "milestones" in override else []
    cfg = compose_config(["data=synthetic", override, *extra])
    with pytest.raises(ConfigError) as err:
        check_run_config(cfg)
    assert str(err.value).startswith(message)


def test_the_test_suites_tiny_models_and_synthetic_fields_compose():
    for path in sorted((TEST_CONF / "model").glob("*.yaml")):
        check_run_config(compose_config([*WITH_TEST_CONF, f"model={path.stem}", *TINY_DATA]))


def test_every_schema_field_has_a_default():
    """A field another session adds to the schema before its yaml line exists must still compose."""
    for node in schema.SCHEMAS.values():
        for f in dataclasses.fields(node):
            has_default = f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
            assert f.name == "name" or has_default


@pytest.mark.parametrize("preset", sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml")))
def test_every_experiment_preset_passes_the_schema(preset):
    check_run_config(compose_config([f"experiment={preset}", "data.archive=null"]))
