"""Downloading MNIST, Fashion-MNIST and CIFAR-10: from a mirror on 127.0.0.1, never the internet.

torchvision's metadata (``MNIST.mirrors``/``.resources``, ``CIFAR10.url``/``.tgz_md5`` and the
batch md5 lists) is pointed at a local HTTP server that serves the committed MNIST subset,
or a small CIFAR-10 archive written here, and misbehaves on demand.
"""

from __future__ import annotations

import gzip
import io
import os
import pickle
import signal
import struct
import subprocess
import sys
import tarfile
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from dataset_mirror import MNIST_FILES, Mirror, closed_port_url, md5_of, mnist_files, point_mnist_at
from latentlab.core.config import DataConfig
from latentlab.core.data import load_dataset
from latentlab.core.errors import DataError, FetchCancelled
from latentlab.core.fetch import FetchProgress, fetch, is_present

CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


@pytest.fixture
def mirror(mnist_gz_dir):
    server = Mirror(mnist_files(mnist_gz_dir))
    yield server
    server.close()


@pytest.fixture
def mnist_mirror(monkeypatch, mirror):
    """torchvision's MNIST mirrors = [the local server], expecting the subset's md5s."""
    point_mnist_at(monkeypatch, mirror)
    return mirror


def read_idx_gz(data: bytes) -> np.ndarray:
    """An independent idx reader, to check what the loader made of a served file."""
    raw = gzip.decompress(data)
    (magic,) = struct.unpack(">I", raw[:4])
    ndim = magic & 0xFF
    shape = struct.unpack(">" + "I" * ndim, raw[4 : 4 + 4 * ndim])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def files_under(root: Path) -> list[str]:
    """Every file below ``root``, hidden ones included, as relative paths."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def missing_message(root: Path) -> str:
    with pytest.raises(DataError) as info:
        load_dataset(DataConfig(name="mnist", root=str(root)))
    return str(info.value)


# ---------------------------------------------------------------------------- a good download


def test_fetch_downloads_mnist_into_torchvisions_layout_and_it_loads(tmp_path, mnist_mirror):
    seen: list[FetchProgress] = []
    folder = fetch("mnist", tmp_path, progress=seen.append)

    assert folder == tmp_path / "MNIST" / "raw"
    for name, data in mnist_mirror.files.items():
        assert (folder / name).read_bytes() == data  # the archive, verified, kept as torchvision keeps it
        assert (folder / name[: -len(".gz")]).is_file()  # and unpacked
    assert not [f for f in files_under(tmp_path) if Path(f).name.startswith(".")]  # no temporaries left
    assert sorted(mnist_mirror.requests) == sorted(MNIST_FILES)

    d = load_dataset(DataConfig(name="mnist", root=str(tmp_path)))
    served = mnist_mirror.files
    assert np.array_equal(d.train_images[:, 0].numpy(), read_idx_gz(served["train-images-idx3-ubyte.gz"]))
    assert np.array_equal(d.test_images[:, 0].numpy(), read_idx_gz(served["t10k-images-idx3-ubyte.gz"]))
    assert d.test_labels.tolist() == read_idx_gz(served["t10k-labels-idx1-ubyte.gz"]).tolist()


def test_progress_reports_content_length_and_each_file_once_complete(tmp_path, mnist_mirror):
    seen: list[FetchProgress] = []
    fetch("mnist", tmp_path, progress=seen.append)

    complete = [p for p in seen if p.complete]
    assert [p.file for p in complete] == list(MNIST_FILES)
    assert [(p.file_number, p.file_count) for p in complete] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    for p in complete:
        size = len(mnist_mirror.files[p.file])
        assert p.done_bytes == p.total_bytes == size  # the size shown is what Content-Length said
        assert p.bytes_per_second > 0
    first = seen[0]
    assert (first.file, first.done_bytes, first.total_bytes) == (MNIST_FILES[0], 0, len(mnist_mirror.files[MNIST_FILES[0]]))


def test_progress_describes_bytes_done_of_total_and_the_rate():
    p = FetchProgress("train-images-idx3-ubyte.gz", 4_200_000, 9_912_422, 1_300_000.0)
    assert p.describe() == "4.2 of 9.9 MB, 1.3 MB/s"
    assert FetchProgress("f", 1500, None, 700.0).describe() == "1.5 kB, 700 B/s"


def test_is_present_only_once_the_files_are_there(tmp_path, mnist_mirror):
    assert not is_present("mnist", tmp_path)
    fetch("mnist", tmp_path)
    assert is_present("mnist", tmp_path)
    assert not is_present("fashion-mnist", tmp_path)


def test_fetch_keeps_files_already_there_and_downloads_nothing(tmp_path, mnist_mirror):
    fetch("mnist", tmp_path)
    mnist_mirror.requests.clear()
    assert fetch("mnist", tmp_path) == tmp_path / "MNIST" / "raw"
    assert mnist_mirror.requests == []


def test_verified_archives_already_there_are_only_unpacked(tmp_path, mnist_mirror):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name, data in mnist_mirror.files.items():
        (raw / name).write_bytes(data)
    fetch("mnist", tmp_path)
    assert mnist_mirror.requests == []
    assert all((raw / name[: -len(".gz")]).is_file() for name in MNIST_FILES)


def test_each_mirror_is_tried_in_turn(tmp_path, monkeypatch, mirror):
    mirror.modes = {name: "404" for name in MNIST_FILES}
    good = Mirror(mirror.files)
    try:
        point_mnist_at(monkeypatch, mirror, closed_port_url(), mirror.url, good.url)
        fetch("mnist", tmp_path)
        assert sorted(good.requests) == sorted(MNIST_FILES)
        assert sorted(mirror.requests) == sorted(MNIST_FILES)  # asked first, answered 404
    finally:
        good.close()
    assert load_dataset(DataConfig(name="mnist", root=str(tmp_path))).n_test == len(
        read_idx_gz(mirror.files["t10k-labels-idx1-ubyte.gz"]))


def test_fashion_mnist_goes_into_its_own_folder(tmp_path, monkeypatch, mirror):
    point_mnist_at(monkeypatch, mirror, kind="FashionMNIST")
    assert fetch("fashion-mnist", tmp_path) == tmp_path / "FashionMNIST" / "raw"
    d = load_dataset(DataConfig(name="fashion-mnist", root=str(tmp_path)))
    assert np.array_equal(d.test_images[:, 0].numpy(), read_idx_gz(mirror.files["t10k-images-idx3-ubyte.gz"]))
    assert d.classes[0] == "T-shirt/top"


# ---------------------------------------------------------------------------- failures leave nothing behind


def test_a_dropped_connection_is_an_error_and_leaves_no_partial_file(tmp_path, mnist_mirror, one_sentence):
    mnist_mirror.modes["train-images-idx3-ubyte.gz"] = "drop"
    with pytest.raises(DataError) as info:
        fetch("mnist", tmp_path)
    message = str(info.value)
    one_sentence(message)
    assert "connection dropped" in message and "train-images-idx3-ubyte.gz" in message
    assert files_under(tmp_path) == []  # not even a hidden .part file
    assert not is_present("mnist", tmp_path)
    assert "latentlab fetch mnist --data-dir" in missing_message(tmp_path)  # a later load still says missing


def test_a_corrupted_file_fails_its_checksum_and_nothing_is_left(tmp_path, mnist_mirror, one_sentence):
    mnist_mirror.modes["train-images-idx3-ubyte.gz"] = "corrupt"
    with pytest.raises(DataError) as info:
        fetch("mnist", tmp_path)
    one_sentence(str(info.value))
    assert "failed its checksum" in str(info.value)
    assert files_under(tmp_path) == []
    assert "latentlab fetch mnist" in missing_message(tmp_path)


def test_an_http_error_on_every_mirror_is_one_sentence_naming_it(tmp_path, mnist_mirror, one_sentence):
    mnist_mirror.modes["train-images-idx3-ubyte.gz"] = "404"
    with pytest.raises(DataError) as info:
        fetch("mnist", tmp_path)
    one_sentence(str(info.value))
    assert "HTTP error 404" in str(info.value) and mnist_mirror.url in str(info.value)
    assert files_under(tmp_path) == []


def test_a_failure_mid_fetch_keeps_the_verified_files_but_loads_as_missing(tmp_path, mnist_mirror):
    mnist_mirror.modes["t10k-images-idx3-ubyte.gz"] = "drop"
    with pytest.raises(DataError):
        fetch("mnist", tmp_path)
    raw = tmp_path / "MNIST" / "raw"
    assert files_under(raw) == ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]  # whole and verified
    assert not is_present("mnist", tmp_path)
    mnist_mirror.modes.clear()
    mnist_mirror.requests.clear()
    fetch("mnist", tmp_path)  # the next try fetches only what is missing
    assert sorted(mnist_mirror.requests) == ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]


def test_cancel_mid_download_raises_fetch_cancelled_and_leaves_nothing(tmp_path, mnist_mirror, one_sentence):
    mnist_mirror.modes["train-images-idx3-ubyte.gz"] = "slow"
    cancel = threading.Event()
    seen: list[FetchProgress] = []

    def on_progress(p: FetchProgress) -> None:
        seen.append(p)
        if p.done_bytes > 0:
            cancel.set()  # as the GUI's Cancel button does, from another thread

    started = time.monotonic()
    with pytest.raises(FetchCancelled) as info:
        fetch("mnist", tmp_path, progress=on_progress, cancel=cancel)
    one_sentence(str(info.value))
    assert time.monotonic() - started < 5  # the whole slow file would take about 3 s more
    assert 0 < seen[-1].done_bytes < seen[-1].total_bytes  # it really landed mid-file
    assert files_under(tmp_path) == []
    assert mnist_mirror.requests == ["train-images-idx3-ubyte.gz"]
    assert "latentlab fetch mnist" in missing_message(tmp_path)


def test_no_network_says_where_to_put_the_files_by_hand(tmp_path, monkeypatch, mirror, one_sentence):
    point_mnist_at(monkeypatch, mirror, closed_port_url())
    with pytest.raises(DataError) as info:
        fetch("mnist", tmp_path)
    message = str(info.value)
    one_sentence(message)
    raw = tmp_path / "MNIST" / "raw"
    assert message.startswith("Could not download MNIST (no network connection); put the four MNIST .gz files from ")
    assert f"into {raw}/ by hand and try again." in message
    assert files_under(tmp_path) == []


def test_an_unwritable_data_folder_is_one_sentence(tmp_path, mnist_mirror, one_sentence):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(DataError) as info:
        fetch("mnist", blocker / "data")
    one_sentence(str(info.value))
    assert "Could not create the data folder" in str(info.value)


# ---------------------------------------------------------------------------- loading never downloads


def test_loading_missing_mnist_never_downloads_and_names_the_fetch_command(tmp_path, mnist_mirror, one_sentence):
    message = missing_message(tmp_path)
    one_sentence(message)
    assert mnist_mirror.requests == []  # torchvision's download=True would have fetched all four here
    assert f"latentlab fetch mnist --data-dir {tmp_path}" in message
    assert f"into {tmp_path / 'MNIST' / 'raw'}/ by hand" in message
    assert files_under(tmp_path) == []


def test_loading_a_data_folder_that_does_not_exist_names_the_fetch_command(tmp_path, one_sentence):
    with pytest.raises(DataError) as info:
        load_dataset(DataConfig(name="cifar10", root=str(tmp_path / "nowhere")))
    one_sentence(str(info.value))
    assert f"latentlab fetch cifar10 --data-dir {tmp_path / 'nowhere'}" in str(info.value)


def test_loading_unpacks_verified_archives_offline(tmp_path, monkeypatch, mirror):
    point_mnist_at(monkeypatch, mirror, closed_port_url())
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name, data in mirror.files.items():
        (raw / name).write_bytes(data)
    d = load_dataset(DataConfig(name="mnist", root=str(tmp_path)))
    assert np.array_equal(d.train_images[:, 0].numpy(), read_idx_gz(mirror.files["train-images-idx3-ubyte.gz"]))
    assert not [f for f in files_under(tmp_path) if Path(f).name.startswith(".")]


def test_loading_a_damaged_archive_says_so_and_does_not_download_it_again(tmp_path, mnist_mirror, one_sentence):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name, data in mnist_mirror.files.items():
        (raw / name).write_bytes(data[:-10] if name.startswith("train-images") else data)
    message = missing_message(tmp_path)
    one_sentence(message)
    assert "train-images-idx3-ubyte.gz is damaged or incomplete" in message and "latentlab fetch mnist" in message
    assert mnist_mirror.requests == []


# ---------------------------------------------------------------------------- CIFAR-10 (an archive written here)


def cifar_archive(per_batch: int = 4, n_test: int = 6) -> tuple[bytes, dict[str, bytes], dict[str, np.ndarray]]:
    """A small ``cifar-10-python.tar.gz``: pickled ``data_batch_1..5``, ``test_batch`` and ``batches.meta``."""
    rng = np.random.default_rng(11)
    members: dict[str, bytes] = {}
    train, labels = [], []
    for i in range(1, 6):
        data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)  # rows: 1024 R, 1024 G, 1024 B
        batch_labels = [int(v) for v in rng.integers(0, 10, per_batch)]
        members[f"data_batch_{i}"] = pickle.dumps({"batch_label": f"training batch {i} of 5", "labels": batch_labels,
                                                   "data": data, "filenames": [f"{i}_{j}.png" for j in range(per_batch)]})
        train.append(data)
        labels += batch_labels
    test = rng.integers(0, 256, (n_test, 3072), dtype=np.uint8)
    test_labels = [int(v) for v in rng.integers(0, 10, n_test)]
    members["test_batch"] = pickle.dumps({"batch_label": "testing batch 1 of 1", "labels": test_labels, "data": test,
                                          "filenames": [f"t_{j}.png" for j in range(n_test)]})
    members["batches.meta"] = pickle.dumps({"num_cases_per_batch": per_batch, "label_names": list(CIFAR_CLASSES),
                                            "num_vis": 3072})
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    expected = {"train": np.concatenate(train).reshape(-1, 3, 32, 32), "train_labels": np.array(labels),
                "test": test.reshape(-1, 3, 32, 32), "test_labels": np.array(test_labels)}
    return buffer.getvalue(), members, expected


def test_cifar10_downloads_one_archive_unpacks_it_and_loads(tmp_path, monkeypatch):
    from torchvision.datasets import CIFAR10

    archive, members, expected = cifar_archive()
    server = Mirror({"cifar-10-python.tar.gz": archive})
    try:
        monkeypatch.setattr(CIFAR10, "url", f"{server.url}cifar-10-python.tar.gz")
        monkeypatch.setattr(CIFAR10, "tgz_md5", md5_of(archive))
        monkeypatch.setattr(CIFAR10, "train_list", [[f"data_batch_{i}", md5_of(members[f"data_batch_{i}"])] for i in range(1, 6)])
        monkeypatch.setattr(CIFAR10, "test_list", [["test_batch", md5_of(members["test_batch"])]])
        monkeypatch.setattr(CIFAR10, "meta", {**CIFAR10.meta, "md5": md5_of(members["batches.meta"])})
        assert not is_present("cifar10", tmp_path)
        assert fetch("cifar10", tmp_path) == tmp_path / "cifar-10-batches-py"
    finally:
        server.close()
    assert server.requests == ["cifar-10-python.tar.gz"]
    assert (tmp_path / "cifar-10-python.tar.gz").read_bytes() == archive
    assert is_present("cifar10", tmp_path)
    assert not [f for f in files_under(tmp_path) if Path(f).name.startswith(".")]
    d = load_dataset(DataConfig(name="cifar10", root=str(tmp_path)))
    assert np.array_equal(d.train_images.numpy(), expected["train"])
    assert np.array_equal(d.test_images.numpy(), expected["test"])
    assert d.test_labels.tolist() == expected["test_labels"].tolist()
    assert d.classes == CIFAR_CLASSES


def test_unknown_dataset_has_nothing_to_fetch(tmp_path, one_sentence):
    with pytest.raises(DataError) as info:
        fetch("digits", tmp_path)
    one_sentence(str(info.value))


# ---------------------------------------------------------------------------- the CLI, in a subprocess

CLI_WITH_MIRRORS = textwrap.dedent(
    """
    import json, sys
    from torchvision import datasets
    datasets.MNIST.mirrors = json.loads(sys.argv[1])
    datasets.MNIST.resources = [tuple(r) for r in json.loads(sys.argv[2])]
    from latentlab.cli import main
    raise SystemExit(main(sys.argv[3:]))
    """
)


def cli_fetch(mirrors: list[str], resources, *args, env=None, popen=False):
    """``latentlab fetch ...`` in a subprocess whose torchvision MNIST metadata names ``mirrors``."""
    import json

    command = [sys.executable, "-c", CLI_WITH_MIRRORS, json.dumps(mirrors), json.dumps(resources), "fetch", *map(str, args)]
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    if popen:
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full_env)
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env=full_env)


def test_cli_fetch_downloads_and_says_where_the_files_are(tmp_path, mirror):
    proc = cli_fetch([mirror.url], mirror.md5s(), "mnist", "--data-dir", tmp_path / "data")
    assert proc.returncode == 0, proc.stderr
    raw = tmp_path / "data" / "MNIST" / "raw"
    assert proc.stdout.strip() == f"MNIST is in {raw}; train on it with --dataset mnist --data-dir {tmp_path / 'data'}"
    # stderr is a pipe, not a terminal: one line per file, not a redrawn bar
    lines = proc.stderr.splitlines()
    assert [line.split(":")[0] for line in lines] == [f"{name} ({i}/4)" for i, name in enumerate(MNIST_FILES, 1)]
    assert "\r" not in proc.stderr and all(line.endswith("/s") for line in lines)
    assert load_dataset(DataConfig(name="mnist", root=str(tmp_path / "data"))).n_train > 0


def test_cli_fetch_defaults_to_the_data_folder_of_latentlab_data(tmp_path, mirror):
    proc = cli_fetch([mirror.url], mirror.md5s(), "mnist", env={"LATENTLAB_DATA": str(tmp_path / "default")})
    assert proc.returncode == 0, proc.stderr
    assert is_present("mnist", tmp_path / "default")


def test_cli_fetch_without_network_exits_2_with_one_sentence(tmp_path, mirror, one_sentence):
    proc = cli_fetch([closed_port_url()], mirror.md5s(), "mnist", "--data-dir", tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("latentlab: error: Could not download MNIST (no network connection)")
    one_sentence(lines[0][len("latentlab: error: "):])
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert files_under(tmp_path) == []


def test_cli_fetch_interrupted_by_ctrl_c_exits_130_and_leaves_no_partial_file(tmp_path, mirror):
    mirror.modes["train-images-idx3-ubyte.gz"] = "slow"
    proc = cli_fetch([mirror.url], mirror.md5s(), "mnist", "--data-dir", tmp_path, popen=True)
    try:
        part = tmp_path / "MNIST" / "raw" / ".train-images-idx3-ubyte.gz.part"
        deadline = time.monotonic() + 60
        while not (part.is_file() and part.stat().st_size > 0):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == "latentlab: interrupted."
    assert "Traceback" not in err
    assert files_under(tmp_path) == []


def test_cli_fetch_of_an_unknown_dataset_is_a_usage_error(cli, one_sentence):
    message = cli.user_error("fetch", "digits")
    assert "invalid choice" in message


def test_fetch_module_imports_without_torchvision():
    code = "import sys, latentlab.core.fetch; print('torchvision' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "False", proc.stderr  # cheap to import from the GUI and the CLI



@pytest.mark.parametrize("name", ["mnist", "fashion-mnist", "cifar10"])
def test_the_presence_check_names_the_files_torchvision_reads(tmp_path, name):
    from latentlab.core.fetch import _LAYOUT, _plan

    plan = _plan(name, tmp_path)
    expected = {
        (str(a.path.relative_to(tmp_path)), tuple(sorted(str(f.relative_to(tmp_path)) for f, _ in a.unpacked)))
        for a in plan.archives
    }
    assert {(archive, tuple(sorted(unpacked))) for archive, unpacked in _LAYOUT[name]} == expected


def test_the_presence_check_does_not_import_torchvision():
    code = (
        "import sys, tempfile; from latentlab.core.fetch import is_present; "
        "is_present('mnist', tempfile.gettempdir()); is_present('cifar10', tempfile.gettempdir()); "
        "sys.exit('torchvision' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
