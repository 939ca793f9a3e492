"""One line for every failure a user can fix (issue 21, "Why" point 8): each names the path or the member and the
fix, never a traceback; and a run that trained and tested is never recorded failed by a tracker problem."""
from __future__ import annotations

import io
import logging
import shlex
import shutil
import struct
import subprocess
import sys
import tarfile
import zlib
from pathlib import Path

import pytest
from PIL import Image

from jumpnet.data import DataError, load_arrays
from jumpnet.run.pipeline import execute
from jumpnet.sweep.status import status_table
from tests.conftest import ROOT, TINY_DATA, TINY_JUMPNET, run_captured, run_module, run_py, subprocess_env
from tests.test_data import CLASSES, data_cfg
from tests.test_robustness import config, record

SMALL = [*TINY_DATA, *TINY_JUMPNET, "logger=none", "trainer.threads=1", "trainer.epochs=1"]


def one_error_line(out: subprocess.CompletedProcess) -> str:
    """The command's last stderr line, checked to be the one ``error:`` line and no traceback."""
    text = out.stdout + out.stderr
    assert out.returncode == 1, text[-3000:]
    assert "Traceback" not in text and "--- Logging error ---" not in text, text[-3000:]
    assert "Error executing job" not in text, text[-3000:]   # Hydra's own line before ours: not for a single run
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and out.stderr.splitlines()[-1] == errors[0], out.stderr[-3000:]
    return errors[0]


@pytest.mark.parametrize("where", ["file", "proc"])
def test_an_unwritable_experiments_dir_is_one_line(tmp_path, where):
    """``paths.experiments_dir`` under a file (ENOTDIR) or under /proc (ENOENT): Hydra's own mkdir fails."""
    blocker = tmp_path / "README.md"
    blocker.write_text("a file, not a folder")
    target = blocker / "x" if where == "file" else Path("/proc/x")
    line = one_error_line(run_py([*SMALL, f"paths.experiments_dir={target}"], timeout=120))
    assert line.startswith(f"error: cannot create {target}") and "paths.experiments_dir" in line, line


def test_an_unwritable_report_out_is_one_line(tmp_path, finished_sweep):
    blocker = tmp_path / "README.md"
    blocker.write_text("a file, not a folder")
    line = one_error_line(run_module("jumpnet.report", [str(finished_sweep), "--out", str(blocker / "r")],
                                     timeout=120))
    assert line.startswith(f"error: cannot create {blocker / 'r'}") and "--out" in line, line


def test_hydras_own_writes_on_a_full_disk_are_one_line(tmp_path):
    """Hydra writes ``.hydra/*.yaml`` and ``run.log`` before the run starts: on a full disk, one line naming the
    file (not an OSError without a path, then "--- Logging error ---" tracebacks from the log file)."""
    if not shutil.which("unshare"):
        pytest.skip("needs unshare")
    mount = tmp_path / "disk"
    mount.mkdir()
    cmd = [sys.executable, str(ROOT / "run.py"), *SMALL, f"paths.experiments_dir={mount}/exp"]
    script = (f"mount -t tmpfs -o size=64k tmpfs {mount} && (dd if=/dev/zero of={mount}/fill bs=4k 2>/dev/null; "
              f"true) && {shlex.join(cmd)}")
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", f"mount -t tmpfs -o size=64k tmpfs {mount}"],
                           capture_output=True, timeout=30)
    if probe.returncode != 0:
        pytest.skip("unshare -rm cannot mount a tmpfs here")
    out = run_captured(["unshare", "-rm", "sh", "-c", script], timeout=120, env=subprocess_env())
    line = one_error_line(out)
    assert "No space left on device" in line and f"{mount}/exp/default/" in line and ".hydra" in line, line


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` pixels (a decompression bomb, in 67 bytes)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def tar_with(path: Path, bad_name: str, bad: bytes) -> Path:
    with tarfile.open(path, "w") as tar:
        for split in ("train", "test"):
            for name in CLASSES:
                for i in range(2):
                    buf = io.BytesIO()
                    Image.new("RGB", (8, 8), (40, 10 * i, 0)).save(buf, format="PNG")
                    data = bad if f"{split}/{name}/{i}.png" == bad_name else buf.getvalue()
                    info = tarfile.TarInfo(f"{split}/{name}/{i}.png")
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.parametrize("bad,why", [(png_claiming(40000, 40000), "DecompressionBombError"),
                                     (b"garbage, not an image", "cannot identify image file")])
def test_an_image_member_that_cannot_be_decoded_is_named(tmp_path, bad, why):
    archive = tar_with(tmp_path / "bad.tar", "train/bee/1.png", bad)
    with pytest.raises(DataError) as err:
        load_arrays(data_cfg(archive, tmp_path / "root"))
    text = str(err.value)
    assert text.startswith(f"data.archive={str(archive)!r}: member train/bee/1.png cannot be decoded as an image")
    assert why in text and "BytesIO" not in text and "\n" not in text and "Fix:" in text, text


def test_a_tracker_failure_after_testing_is_a_note_not_a_failure(tmp_path, monkeypatch, caplog):
    """HOME unwritable with ``logger.log_checkpoint=true``: W&B cannot stage the weights artifact; the run that
    trained and tested stays completed, with a note and a warning."""
    blocker = tmp_path / "not-a-home"
    blocker.write_text("a file")
    monkeypatch.setenv("HOME", str(blocker / "home"))
    for key in ("WANDB_DATA_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR", "WANDB_ARTIFACT_DIR"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_CONSOLE", "off")
    run_dir = tmp_path / "run"
    with caplog.at_level(logging.WARNING):
        execute(config(tmp_path, "trainer.epochs=1", "logger=wandb", "logger.log_checkpoint=true"), run_dir)
    done = record(run_dir)
    assert done["status"] == "completed" and done["test_acc"] is not None and "error" not in done
    (note,) = [n for n in done["notes"] if n.startswith("W&B:")]
    assert "weights" in note and str(blocker) in note and "WANDB_DATA_DIR" in note, note
    assert note in caplog.text


def test_report_wandb_with_home_unwritable_is_one_line(tmp_path, finished_sweep):
    blocker = tmp_path / "not-a-home"
    blocker.write_text("a file")
    env = {k: v for k, v in subprocess_env(HOME=str(blocker / "home")).items() if not k.startswith("WANDB_")}
    out = run_captured([sys.executable, "-m", "jumpnet.report", str(finished_sweep), "--out", str(tmp_path / "report"),
                        "--wandb"], timeout=180, env=env)
    line = one_error_line(out)
    assert line.startswith(f"error: the report is written ({tmp_path / 'report'}/README.md) but W&B could not log it")
    assert str(blocker) in line and "WANDB_DATA_DIR" in line, line
    assert (tmp_path / "report" / "README.md").exists()


def test_status_quotes_a_path_for_hydra(tmp_path):
    """``make status`` passes the sweep folder to Hydra (``hydra.sweep.dir=...``): any character a path can hold
    (each of these alone made Hydra's override parser fail: ``ü日本`` and ``'`` in its lexer, ``=`` in its parser,
    ``,`` as a sweep over Hydra's own config)."""
    root = tmp_path / "ü日本" / "a,b" / "lr=0.1" / "it's" / "smoke"
    root.mkdir(parents=True)
    table, waiting, note = status_table(root)
    assert note is None and table.empty and len(waiting) == 10 and "jumpnet-full-s0" in waiting  # smoke's 10 runs


@pytest.fixture(scope="module")
def finished_sweep(tmp_path_factory) -> Path:
    """Two completed tiny runs, as a report's input."""
    root = tmp_path_factory.mktemp("finished") / "experiments"
    out = run_py(["-m", *SMALL, "seed=0,1", "name=done", f"paths.experiments_dir={root}"], timeout=240)
    assert out.returncode == 0, out.stderr[-2000:]
    assert len(list(root.rglob("metrics.json"))) == 2
    return root / "done"
