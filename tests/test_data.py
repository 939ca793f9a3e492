"""Data: ImageFolder archives read in memory and cached by content, splits stratified, bad data named."""
from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf
from PIL import Image

from jumpnet.data import DataError, load_arrays, make_splits
from jumpnet.data.archive import read_cache
from jumpnet.data.fast_loader import BatchLoader
from jumpnet.data.identity import sha256
from jumpnet.data.lock import preparing
from jumpnet.data.splits import stratified_order
from tests.conftest import ROOT, run_py, subprocess_env

CLASSES = ["ant", "bee", "cat"]


def make_imagefolder_tar(path: Path, per_class: int = 4, size: int = 8, colour_shift: int = 0,
                         layout=("train", "test")) -> Path:
    """A real tar of PNGs in the ImageFolder layout, each class a flat colour."""
    with tarfile.open(path, "w:gz") as tar:
        for split in layout:
            for c, name in enumerate(CLASSES):
                for i in range(per_class):
                    img = Image.new("RGB", (size, size), (80 * c + colour_shift, 10 * i, 0))
                    buf = io.BytesIO()
                    img.save(buf, format="PNG")
                    info = tarfile.TarInfo(f"{split}/{name}/{i:04d}.png")
                    info.size = buf.tell()
                    buf.seek(0)
                    tar.addfile(info, buf)
    return path


def data_cfg(archive: Path | None, root: Path, **kw):
    base = dict(name="tiny", archive=str(archive) if archive else None, root=str(root), download=False,
                num_classes=3, image_size=8)
    return OmegaConf.create({**base, **kw})


def test_archive_is_read_into_arrays_with_sorted_class_labels(tmp_path):
    archive = make_imagefolder_tar(tmp_path / "tiny.tar.gz")
    arrays = load_arrays(data_cfg(archive, tmp_path / "root"))
    assert arrays.x_train.shape == (12, 8, 8, 3) and arrays.x_train.dtype == np.uint8
    assert arrays.classes == CLASSES
    assert sorted(np.bincount(arrays.y_test).tolist()) == [4, 4, 4]
    # pixel colour encodes the class: labels line up with images
    assert set(arrays.x_train[arrays.y_train == 2][:, 0, 0, 0].tolist()) == {160}
    assert not any(p.name in CLASSES for p in tmp_path.rglob("*")), "members must never be extracted to disk"


def test_cache_is_keyed_by_archive_content(tmp_path):
    root = tmp_path / "root"
    first = load_arrays(data_cfg(make_imagefolder_tar(tmp_path / "a.tar.gz"), root))
    # same file name, different content: the stale cache must not be reused
    (tmp_path / "b").mkdir()
    second = load_arrays(data_cfg(make_imagefolder_tar(tmp_path / "b" / "a.tar.gz", colour_shift=5), root))
    assert len(list((root / "archives").glob("*.npz"))) == 2
    assert (second.x_train[:, 0, 0, 0] - first.x_train[:, 0, 0, 0] == 5).all()
    again = load_arrays(data_cfg(tmp_path / "a.tar.gz", root))   # from cache
    np.testing.assert_array_equal(again.x_train, first.x_train)


def test_missing_archive_names_the_value(tmp_path):
    with pytest.raises(DataError, match="does not exist.*JUMPNET_DATA_ARCHIVE"):
        load_arrays(data_cfg(tmp_path / "nope.tar.xz", tmp_path))


def test_truncated_archive_is_reported(tmp_path):
    good = make_imagefolder_tar(tmp_path / "good.tar.gz", per_class=20).read_bytes()
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(good[: len(good) // 2])
    with pytest.raises(DataError, match="truncated"):
        load_arrays(data_cfg(bad, tmp_path))


def test_archive_without_imagefolder_layout_is_reported(tmp_path):
    archive = make_imagefolder_tar(tmp_path / "flat.tar.gz", layout=("training",))
    with pytest.raises(DataError, match="not an ImageFolder tree"):
        load_arrays(data_cfg(archive, tmp_path))


def test_class_count_mismatch_is_reported(tmp_path):
    archive = make_imagefolder_tar(tmp_path / "tiny.tar.gz")
    with pytest.raises(DataError,
                       match="data.num_classes=10 but the tiny data .* has 3 classes .*Fix: set data.num_classes=3"):
        load_arrays(data_cfg(archive, tmp_path, num_classes=10))


@pytest.mark.parametrize("dataset,label,count", [("cifar10", "CIFAR-10", 10), ("cifar100", "CIFAR-100", 100)])
def test_an_archive_of_another_dataset_is_refused_naming_both(tmp_path, dataset, label, count):
    """data=cifar100 with a CIFAR-10 archive (JUMPNET_DATA_ARCHIVE is every dataset's default) is the wrong archive,
    never a reason to change data.num_classes."""
    archive = make_imagefolder_tar(tmp_path / "other.tar.gz")
    with pytest.raises(DataError) as err:
        load_arrays(data_cfg(archive, tmp_path, name=dataset, num_classes=count))
    message = str(err.value)
    assert f"data={dataset} has {count} classes but data.archive='{archive}' holds 3 (ant, bee, cat)" in message
    assert f"it is not a {label} archive" in message and "data.num_classes" not in message


def test_no_download_and_no_data_says_how_to_get_it(tmp_path):
    with pytest.raises(DataError, match="data.download=true"):
        load_arrays(data_cfg(None, tmp_path / "empty", name="cifar10", num_classes=10, image_size=32))


def test_synthetic_data_is_seeded():
    cfg = OmegaConf.create(dict(name="synthetic", num_classes=4, image_size=16, train_size=40, test_size=8))
    a, b = load_arrays(cfg), load_arrays(cfg)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert a.x_train.shape == (40, 16, 16, 3) and np.bincount(a.y_train).tolist() == [10] * 4


def test_splits_are_stratified_disjoint_and_seeded():
    cfg = OmegaConf.create(dict(name="synthetic", num_classes=5, image_size=8, train_size=1000, test_size=500))
    arrays = load_arrays(cfg)
    s = make_splits(arrays, val_size=100, train_subset=200, test_subset=50)
    assert np.bincount(s.y_val).tolist() == [20] * 5
    assert np.bincount(s.y_train).tolist() == [40] * 5
    assert np.bincount(s.y_test).tolist() == [10] * 5 and s.test_subset_used
    order = stratified_order(arrays.y_train, 0)
    assert len(set(order[:100]) & set(order[100:])) == 0
    np.testing.assert_array_equal(order, stratified_order(arrays.y_train, 0))
    with pytest.raises(DataError, match="data.val_size=2000"):
        make_splits(arrays, val_size=2000)


def shifted_copies(img, padding):
    """Every crop-after-zero-pad of ``img`` (CHW) and its mirror: the torchvision augmentation's support."""
    import torch

    padded = torch.nn.functional.pad(img, (padding,) * 4)
    h, w = img.shape[1:]
    for dy in range(2 * padding + 1):
        for dx in range(2 * padding + 1):
            crop = padded[:, dy:dy + h, dx:dx + w]
            yield crop
            yield crop.flip(2)


def test_loader_augments_like_torchvision_and_normalizes():
    import torch

    rng = np.random.default_rng(0)
    x = rng.integers(1, 256, (64, 8, 8, 3), dtype=np.uint8)
    y = np.arange(64)  # label = source index, so each augmented image can be traced to its source
    plain = BatchLoader(x, y, 64, torch.device("cpu"), [0.5] * 3, [0.25] * 3)
    xb, yb = next(iter(plain))
    np.testing.assert_allclose(xb.permute(0, 2, 3, 1).numpy(), (x / 255.0 - 0.5) / 0.25, atol=1e-5)
    aug = BatchLoader(x, y, 64, torch.device("cpu"), [0.0] * 3, [1.0] * 3, train=True, crop_padding=2, flip=True,
                      seed=1)
    xa, ya = next(iter(aug))
    assert sorted(ya.tolist()) == y.tolist()     # one shuffled pass over the split
    src = torch.from_numpy(x).permute(0, 3, 1, 2).float() / 255
    for img, label in zip(xa, ya):
        assert any(torch.allclose(img, c) for c in shifted_copies(src[label], 2))
    assert (xa == 0).any(), "zero padding must show up in some crops"
    flipped = sum(torch.allclose(img, src[label].flip(2)) for img, label in zip(xa, ya))
    unchanged = sum(torch.allclose(img, src[label]) for img, label in zip(xa, ya))
    assert flipped > 0 and unchanged + flipped < 64   # both flips and shifts happen




def test_two_processes_prepare_the_data_once(tmp_path):
    """Two jobs reach a fresh data.root at once: one decodes the archive, the other waits on the lock and reads
    its cache (without the lock both would decode, and write, the same cache). The test holds the lock itself until
    both have said they wait, so neither can finish before the other starts (on a busy machine one job could
    otherwise start after the other had finished, and never wait)."""
    archive = tmp_path / "ten.tar.gz"
    rng = np.random.default_rng(0)
    with tarfile.open(archive, "w:gz") as tar:
        for split in ("train", "test"):
            for c in range(10):                  # CIFAR-10's class count, so data=cifar10 accepts it
                for i in range(150):
                    buf = io.BytesIO()
                    Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(buf, format="PNG")
                    info = tarfile.TarInfo(f"{split}/c{c}/{i:04d}.png")
                    info.size = buf.tell()
                    buf.seek(0)
                    tar.addfile(info, buf)
    root = tmp_path / "root"
    args = ["data=cifar10", f"data.archive={archive}", f"data.root={root}", "data.image_size=8"]
    logs = [tmp_path / f"job{i}.log" for i in range(2)]
    with preparing(root / "archives", f"sha256-{sha256(archive)[:16]}"):  # the lock the jobs' decoding takes
        procs = [subprocess.Popen([sys.executable, "-m", "jumpnet.data.prepare", *args], cwd=ROOT, text=True,
                                  stdout=log.open("w"), stderr=subprocess.STDOUT, env=subprocess_env())
                 for log in logs]
        deadline = time.time() + 120
        while time.time() < deadline and not all("Waiting for another process" in log.read_text() for log in logs):
            assert all(p.poll() is None for p in procs), [log.read_text() for log in logs]
            time.sleep(0.05)
    for p in procs:
        p.wait(timeout=120)
    outputs = [log.read_text() for log in logs]
    assert all(p.returncode == 0 for p in procs), outputs
    log = "\n".join(outputs)
    assert log.count("Decoding") == 1 and log.count("Waiting for another process") == 2, log
    finals = {o.strip().splitlines()[-1].split(" (")[0] for o in outputs}
    assert finals == {f"cifar10: 1,500 train and 1,500 test images, 10 classes of 8x8, ready in data.root={root}"}
    assert len(list((tmp_path / "root" / "archives").glob("*.npz"))) == 1


def test_a_fresh_machine_downloads_by_default_and_without_internet_says_where_to_point(tmp_path):
    """`python run.py model=jumpnet` with no archive named: data.download is on, so torchvision fetches CIFAR-10;
    with no network (a dead proxy here) the run fails in one line that names data.archive / JUMPNET_DATA_ARCHIVE."""
    out = run_py(["model=jumpnet", f"paths.experiments_dir={tmp_path / 'exp'}", f"paths.data_dir={tmp_path / 'data'}"],
                 JUMPNET_DATA_ARCHIVE="", https_proxy="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9",
                 no_proxy="", NO_PROXY="")
    assert out.returncode == 1
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert errors == [line for line in out.stderr.splitlines()[-1:]], out.stderr     # the last line, and the only one
    assert errors[0].startswith(f"error: CIFAR-10 could not be downloaded into data.root='{tmp_path / 'data'}'")
    assert "point data.archive (or JUMPNET_DATA_ARCHIVE) at a local copy" in errors[0]
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize("where", ["inside a header", "between members", "inside a member"])
def test_a_cut_plain_tar_is_a_data_error_naming_it(tmp_path, where):
    """Python's tarfile takes a header cut short for the end of the archive: the test split would shrink unseen."""
    whole = tmp_path / "whole.tar"
    with tarfile.open(make_imagefolder_tar(tmp_path / "whole.tar.gz")) as src, tarfile.open(whole, "w") as dst:
        for member in src:
            dst.addfile(member, src.extractfile(member))
    with tarfile.open(whole) as tar:
        member = tar.getmembers()[-3]                             # a test/ image: the cut loses test images
    cut = {"inside a header": member.offset + 200, "between members": member.offset,
           "inside a member": member.offset_data + 10}[where]
    bad = tmp_path / "cut.tar"
    bad.write_bytes(whole.read_bytes()[:cut])
    with pytest.raises(DataError, match=f"data.archive='{bad}' could not be read to the end .* truncated"):
        load_arrays(data_cfg(bad, tmp_path / "root"))


def test_a_damaged_cache_is_rebuilt_with_a_warning_and_caches_are_group_readable(tmp_path, caplog):
    archive, root = make_imagefolder_tar(tmp_path / "tiny.tar.gz"), tmp_path / "root"
    umask = os.umask(0o027)                                   # a lab's shared data.root: the group reads, others not
    try:
        first = load_arrays(data_cfg(archive, root))
    finally:
        os.umask(umask)
    (cache,) = (root / "archives").glob("*.npz")
    assert cache.stat().st_mode & 0o777 == 0o640              # as open() would make it, not mkstemp's 0o600
    assert (root / "archives" / "sha256.json").stat().st_mode & 0o777 == 0o640
    for damage in (b"PK\x03\x04 not a zip", cache.read_bytes()[:-200]):
        cache.write_bytes(damage)
        with caplog.at_level("WARNING"):
            again = load_arrays(data_cfg(archive, root))
        assert f"Decoded cache {cache} is damaged" in caplog.text
        np.testing.assert_array_equal(again.x_test, first.x_test)
        assert read_cache(cache).classes == CLASSES               # rebuilt whole
        caplog.clear()


def test_an_archive_is_hashed_once_per_change(tmp_path, caplog):
    from jumpnet.data import identity

    archive, root = make_imagefolder_tar(tmp_path / "tiny.tar.gz"), tmp_path / "root"
    with caplog.at_level("INFO"):
        first = identity.archive_sha256(archive, root)
        identity._memo.clear()                                    # a new process: the on-disk cache answers
        assert identity.archive_sha256(archive, root) == first == identity.sha256(archive)
    assert caplog.text.count("Hashing") == 1
    make_imagefolder_tar(archive, colour_shift=9)                 # the file changes: hashed again
    assert identity.archive_sha256(archive, root) != first


def test_plain_loader_resumes_with_the_same_augmentation(tmp_path):
    """trainer.fast=false: the epoch after a resume sees the same crops and flips as without the interruption,
    whatever the workers (their RNG is seeded when they start, so it would differ)."""
    import torch

    from jumpnet.data.plain_loader import PlainLoader
    from jumpnet.train.checkpoint import rng_state, set_rng_state

    x = np.random.default_rng(0).integers(0, 256, (48, 8, 8, 3), dtype=np.uint8)
    def make():
        return (PlainLoader(x, np.arange(48) % 4, 16, torch.device("cpu"), [0.5] * 3, [0.25] * 3, train=True,
                                    crop_padding=2, flip=True, seed=3, num_workers=1))
    def epoch(loader):
        return ([b.clone() for b, _ in loader])
    torch.manual_seed(0)
    straight = make()
    epoch(straight)
    saved = straight.generator.get_state(), rng_state()           # what the checkpoint after epoch 1 holds
    second = epoch(straight)
    resumed = make()
    resumed.generator.set_state(saved[0])
    set_rng_state(saved[1])
    assert all(torch.equal(a, b) for a, b in zip(second, epoch(resumed)))
