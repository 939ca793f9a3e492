"""End to end on the shared CIFAR-10 copy: JumpNet learns something real in a short CPU budget."""
from __future__ import annotations

import pytest

from tests.conftest import CIFAR_ARCHIVE, find_runs, run_py

pytestmark = pytest.mark.slow


@pytest.mark.skipif(not CIFAR_ARCHIVE.is_file(), reason=f"the shared CIFAR-10 archive is absent ({CIFAR_ARCHIVE})")
def test_jumpnet_beats_chance_on_a_cifar10_slice(exp_dir, tmp_path):
    out = run_py(["model=jumpnet", "data=cifar10", f"data.archive={CIFAR_ARCHIVE}", f"data.root={tmp_path / 'data'}",
                  "data.train_subset=2000", "data.val_size=500", "data.test_subset=1000", "trainer.epochs=3",
                  "trainer.batch_size=64", "trainer.lr=0.05", "logger=none", f"paths.experiments_dir={exp_dir}"],
                 timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    (record,) = find_runs(exp_dir).values()
    assert record["status"] == "completed" and record["splits"] == {"train": 2000, "val": 500, "test": 1000}
    assert record["test_subset_used"] is True
    assert record["test_acc"] > 0.2, f"chance is 0.10; got {record['test_acc']}"
