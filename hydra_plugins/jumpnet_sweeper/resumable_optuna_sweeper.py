"""``hparams_search=optuna``: Hydra's Optuna sweeper with its study kept in the sweep folder, so an interrupted
search resumes with its history (``jumpnet.sweep.optuna_history``).

Everything else is Hydra's sweeper: the same config (``hydra.sweeper.*``), the same trials. Before it runs, this
sweeper refuses a key given twice on the command line and, unless ``hydra.sweeper.storage`` names a storage of the
user's own, replays ``<sweep>/optuna_journal.jsonl`` into the study and lowers ``n_trials`` by the trials already
finished (``n_trials`` is the study's total), reseeding the sampler so it does not repeat its first draws.
"""
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List

from hydra.core.config_store import ConfigStore

from hydra_plugins.hydra_optuna_sweeper.config import OptunaSweeperConf
from hydra_plugins.hydra_optuna_sweeper.optuna_sweeper import OptunaSweeper
from jumpnet.config.naming import check_repeated


@dataclass
class ResumableOptunaSweeperConf(OptunaSweeperConf):
    _target_: str = "hydra_plugins.jumpnet_sweeper.resumable_optuna_sweeper.ResumableOptunaSweeper"


ConfigStore.instance().store(group="hydra/sweeper", name="jumpnet_optuna", node=ResumableOptunaSweeperConf,
                             provider="jumpnet")


class ResumableOptunaSweeper(OptunaSweeper):
    def sweep(self, arguments: List[str]) -> Any:
        from jumpnet.sweep.optuna_history import reseed, resume_study  # noqa: PLC0415 - imports optuna (seconds): Hydra
        # imports every plugin module at each start, so this module imports it only when a search runs
        check_repeated(arguments)
        impl = self.sweeper
        if impl.storage is None:
            storage, done, held = resume_study(Path(impl.config.hydra.sweep.dir), impl.study_name,
                                               impl._get_directions())
            impl.storage = storage
            impl.n_trials = max(0, impl.n_trials - done)
            if held:
                reseed(impl.sampler, impl.config.hydra.sweeper.sampler.get("seed"), held)
        return super().sweep(arguments)
