"""Names derived from values: a run's ablation label, its folder name and the keys that name leaves out.

**Ablation label.** A run's ablation is what its switches say, not what the
selected file was called: ``ablation=full ablation.merge=add`` trains the
``add`` arm, so its folder, ``metrics.json`` (``ablation``), W&B name and tags
and the report all say ``add``. The label is the name of the preset in
``conf/ablation/`` whose fields (every field but ``name``) all equal the run's,
preferring ``ablation.name`` when several do; otherwise it spells the fields
that differ from ``full``, in schema order: ``merge=add+head=fc``. It is generic
over fields, so a new switch or preset needs no change here. ``ablation.name``
only names a preset file; two configs with the same switch values are the
same run whatever their ``name``.

**Folder names.** Hydra's ``override_dirname`` can exceed the filesystem's
255-byte limit on a file name (nine overrides do). ``short_dirname`` keeps each
folder level of up to ``MAX_DIRNAME_BYTES`` as it is (so existing folders keep
their names) and turns a longer one into a readable prefix of whole overrides, how
many were left out, and a hash of the whole name:
``data.crop_padding=2,...,trainer.epochs=1+6more-3fa2c81b9e``. The same overrides
always give the same folder (Hydra sorts them), so runs stay resumable; the
full list is in the run's ``.hydra/overrides.yaml``.

**One config, one folder.** The folder-name resolver runs when Hydra works out a run's folder, before it
creates it, so it also checks what the path is made of (:func:`check_folder_inputs`): a key given twice on the
command line (``trainer.epochs=1 trainer.epochs=3`` trains 3 epochs, but both orders map to one folder named by
both values) is refused, and so are a ``name`` or ``seed`` that cannot name a folder
(``jumpnet.config.schema.check_identity``). The sweeper refuses a repeated key of its command line itself.

**Keys a folder name leaves out** (``folder_excluded_keys``, Hydra's
``override_dirname.exclude_keys``) are two sets, both declared in the schema: keys
*named elsewhere* in the folder's path (``NAMED_IN_FOLDER`` and every ablation
field: the sweep folder, ``<model>-<ablation label>-s<seed>``), and *neutral* keys
(:func:`neutral_keys`: ``NEUTRAL_KEYS`` and the fields marked ``identity=False``),
which change how or where a run trains, never what it measures. The second set
alone is what the sweeper ignores when it compares two jobs and what the report
never splits runs by (:func:`is_neutral`); a seed or an ablation field is part of
a run's identity even though its folder names it elsewhere.

All three are registered as resolvers when ``jumpnet.config`` is imported (``run.py``, every
tool and the sweeper plugin import it before Hydra composes) and are used in
``conf/config.yaml``: ``${ablation_label:${ablation}}``, ``${short_dirname:${hydra.job.override_dirname}}``,
``${folder_excluded_keys:}``.
"""
from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf

from jumpnet.config.choices import NAMED_IN_FOLDER, NEUTRAL_KEYS
from jumpnet.config.schema import GROUP_SCHEMAS, AblationConf, check_identity
from jumpnet.errors import ConfigError
from jumpnet.paths import ABLATION_PRESETS_DIR

BASELINE = "full"
MAX_DIRNAME_BYTES = 200   # every name this long worked before (the limit is 255), so none moves
PREFIX_BYTES = 150        # the readable part of a shortened name
HASH_CHARS = 10


def _plain(value: Any) -> Any:
    """A switch value as YAML writes it: bools and None as themselves, enums and everything else as strings."""
    return value if value is None or isinstance(value, bool) else str(value)


def _schema_defaults() -> dict[str, Any]:
    return {f.name: _plain(f.default) for f in dataclasses.fields(AblationConf)
            if f.name != "name" and f.default is not dataclasses.MISSING}


def switches(values: Mapping[str, Any]) -> dict[str, Any]:
    """Every ablation field but ``name``, the schema's defaults filled in, in schema order."""
    fields = _schema_defaults()
    extra = {k: _plain(v) for k, v in values.items() if k not in fields and k not in ("name", "defaults")}
    return {**{k: _plain(values.get(k, default)) for k, default in fields.items()}, **extra}


@cache
def presets(folder: Path = ABLATION_PRESETS_DIR) -> dict[str, dict[str, Any]]:
    """The switch values of every preset in ``conf/ablation/``, by preset name."""
    found = {}
    for path in sorted(Path(folder).glob("*.yaml")):
        data = yaml.safe_load(path.read_text()) or {}
        found[str(data.get("name", path.stem))] = switches(data)
    return found


def ablation_label(values: Mapping[str, Any] | DictConfig, name: str | None = None) -> str:
    """The run's ablation label from its switch values (see the module docstring)."""
    if isinstance(values, DictConfig):
        values = OmegaConf.to_container(values, resolve=True, enum_to_str=True)
    name = name if name is not None else values.get("name")
    mine, known = switches(values), presets()
    matching = [preset for preset, fields in known.items() if fields == mine]
    if matching:
        return str(name) if name in matching else matching[0]
    base = known.get(BASELINE, {})
    differ = [f"{k}={_text(v)}" for k, v in mine.items() if base.get(k, object()) != v]
    return "+".join(differ) or BASELINE


def _text(value: Any) -> str:
    return "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def short_dirname(override_dirname: str) -> str:
    """``override_dirname`` with each folder level as is when it is short enough, else a readable prefix +
    ``+Nmore-<hash>``. Levels are judged one by one: with ``item_sep: /`` (the Optuna preset) every override is
    a level of its own, so a long list of short levels is kept whole."""
    return "/".join(_short_level(level) for level in str(override_dirname).split("/"))


def _short_level(name: str) -> str:
    if len(name.encode()) <= MAX_DIRNAME_BYTES:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:HASH_CHARS]
    parts = name.split(",")
    kept: list[str] = []
    for part in parts:
        if len(",".join([*kept, part]).encode()) > PREFIX_BYTES:
            break
        kept.append(part)
    prefix = ",".join(kept) if kept else name.encode()[:PREFIX_BYTES].decode(errors="ignore")
    return f"{prefix}+{len(parts) - len(kept)}more-{digest}"


@cache
def neutral_keys() -> tuple[str, ...]:
    """Every key that leaves what a run measures unchanged: ``NEUTRAL_KEYS``, each field of a typed group among them
    (``logger.mode``), and each schema field marked ``identity=False`` (``trainer.compile``)."""
    fields = [f"{group}.{f.name}" for group, nodes in GROUP_SCHEMAS.items() for node in nodes
              for f in dataclasses.fields(node) if group in NEUTRAL_KEYS or f.metadata.get("identity") is False]
    return tuple(dict.fromkeys([*NEUTRAL_KEYS, *fields]))


def is_neutral(key: str) -> bool:
    """Whether a config key (``trainer.compile``, ``hydra/launcher``), a key under a neutral group (``logger.tags``,
    ``hydra.launcher.cpus_per_task``) or an override of one (``+trainer.compile=default``) leaves what a run
    measures unchanged."""
    parts = override_key(key).replace("/", ".").split(".")
    return any(".".join(parts[:n]) in _neutral_dotted() for n in range(1, len(parts) + 1))


@cache
def _neutral_dotted() -> frozenset[str]:
    """The neutral keys with groups spelled as keys (``hydra/launcher`` as ``hydra.launcher``)."""
    return frozenset(k.replace("/", ".") for k in neutral_keys())


def override_key(override: str) -> str:
    """The key (or group) an override sets: ``trainer.compile`` of ``+trainer.compile=default``, as Hydra reads it."""
    return override.split("=", 1)[0].lstrip("+~")


@cache
def folder_excluded_keys() -> tuple[str, ...]:
    """The keys a run folder's override levels leave out: those it names elsewhere, then the neutral ones."""
    named = [*NAMED_IN_FOLDER, *(f"ablation.{f.name}" for f in dataclasses.fields(AblationConf))]
    return tuple(dict.fromkeys([*named, *neutral_keys()]))


def repeated_overrides(overrides: Sequence[str]) -> dict[str, list[str]]:
    """Each key (or group) set by more than one of ``overrides``, with those overrides in order."""
    by_key: dict[str, list[str]] = {}
    for override in overrides:
        by_key.setdefault(override_key(str(override)), []).append(str(override))
    return {key: given for key, given in by_key.items() if len(given) > 1}


def check_repeated(overrides: Sequence[str]) -> None:
    """A key given more than once is refused: its folder would be named by every value while one config ran."""
    for key, given in repeated_overrides(overrides).items():
        times = "twice" if len(given) == 2 else f"{len(given)} times"
        raise ConfigError(f"{key} is given {times} ({', '.join(given)}): a run folder is named by its overrides, so "
                          f"one folder would stand for {len(given)} configs", f"give {key} once, e.g. {given[-1]}")


def check_folder_inputs(root: Any) -> None:
    """What a run folder's path is made of, checked while Hydra resolves the path (before it makes the folder): the
    command line's overrides (each key once) and the identity values (``check_identity``)."""
    overrides = OmegaConf.select(root, "hydra.overrides.task", default=None) if isinstance(root, DictConfig) else None
    check_repeated(list(overrides or []))
    check_identity(root)


def folder_name(override_dirname: str, *, _root_: Any = None) -> str:
    """The ``short_dirname`` resolver: the overrides' folder level, once its inputs are checked."""
    if _root_ is not None:
        check_folder_inputs(_root_)
    return short_dirname(override_dirname)


def register_resolvers() -> None:
    OmegaConf.register_new_resolver("ablation_label", lambda node: ablation_label(node), replace=True)
    OmegaConf.register_new_resolver("short_dirname", folder_name, replace=True)
    OmegaConf.register_new_resolver("folder_excluded_keys", lambda: list(folder_excluded_keys()), replace=True)

