"""Helpers shared by the benchmark scripts: the MNIST copy, the configs, the printing.

Not a test and not part of the package; the scripts import it as a sibling module.
"""

from __future__ import annotations

import gzip
import os
import platform
import shutil
import sys
import tempfile
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = PROJECT_ROOT.parent / "shared" / "datasets"
MNIST_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
MNIST_TRAIN_ITEMS = 60000
DATA_DIR_HELP = (
    "folder with the four full MNIST .gz files, directly or in mnist/ or MNIST/raw/ "
    "(default: $LATENTLAB_DATA, then ../shared/datasets beside the project)"
)

if str(PROJECT_ROOT) not in sys.path:  # run from a checkout without an installed latentlab
    sys.path.insert(0, str(PROJECT_ROOT))


def data_dirs(data_dir: str | None) -> list[Path]:
    """Where to look for the full datasets: ``--data-dir`` alone when given, else
    ``$LATENTLAB_DATA`` (when set), then ``../shared/datasets`` beside the project root."""
    if data_dir:
        return [Path(data_dir)]
    env = os.environ.get("LATENTLAB_DATA", "")
    return ([Path(env).expanduser()] if env else []) + [DEFAULT_DATA]


def _train_items(folder: Path) -> int:
    """The item count in the header of ``folder``'s training-labels file."""
    try:
        with gzip.open(folder / "train-labels-idx1-ubyte.gz", "rb") as f:
            return int.from_bytes(f.read(8)[4:8], "big")
    except (OSError, EOFError):  # not gzip, or cut short: not the files we want
        return -1


def find_mnist_files(data_dir: str | None) -> Path:
    """The folder holding the four full MNIST .gz files (60000 training items, not a subset
    such as the tests' one): in a candidate of :func:`data_dirs`, or its ``mnist/``,
    ``MNIST/raw/`` or ``raw/``, the first that has them."""
    bases = data_dirs(data_dir)
    for base in bases:
        for folder in (base, base / "mnist", base / "MNIST" / "raw", base / "raw"):
            if all((folder / name).is_file() for name in MNIST_FILES) and _train_items(folder) == MNIST_TRAIN_ITEMS:
                return folder
    sys.exit(
        f"error: the full MNIST .gz files ({MNIST_TRAIN_ITEMS} training items) are in none of "
        f"{', '.join(map(str, bases))} (nor their mnist/ or MNIST/raw/); pass --data-dir or set LATENTLAB_DATA."
    )


class MnistCopy:
    """A temporary torchvision root ``<tmp>/MNIST/raw/`` with copies of the files, unpacked.

    The source folder is only read, never written (torchvision unpacks beside the .gz files,
    so it must never be pointed at the shared folder). Unpacked here, torchvision finds the
    raw files at once and never tries to download.
    """

    def __init__(self, data_dir: str | None):
        self.source = find_mnist_files(data_dir)
        self._tmp = tempfile.TemporaryDirectory(prefix="latentlab-bench-")
        self.root = self._tmp.name
        raw = Path(self.root) / "MNIST" / "raw"
        raw.mkdir(parents=True)
        for name in MNIST_FILES:
            shutil.copyfile(self.source / name, raw / name)
            with gzip.open(raw / name, "rb") as src, open(raw / name[:-3], "wb") as dst:
                shutil.copyfileobj(src, dst)

    def __enter__(self) -> MnistCopy:
        return self

    def __exit__(self, *exc) -> None:
        self._tmp.cleanup()


def mlp_784_400_20_config(root: str, *, epochs: int, device: str, seed: int = 1, checkpoint_every: int = 1):
    """pytorch/examples' model and optimiser settings, in latentlab's config."""
    from latentlab.core.config import DataConfig, ModelConfig, RunConfig, TrainConfig

    return RunConfig(
        data=DataConfig(name="mnist", root=root),
        model=ModelConfig(kind="mlp", latent_dim=20, hidden=(400,), likelihood="bernoulli"),
        train=TrainConfig(
            epochs=epochs, batch_size=128, lr=1e-3, beta=1.0, seed=seed, device=device,
            checkpoint_every=checkpoint_every,
        ),
    )


# Burda, Grosse & Salakhutdinov (arXiv 1509.00519), Table 1: the VAE (k = 1) with one stochastic
# layer on dynamically binarized MNIST, test NLL (K = 5000) after 3280 epochs, in nats.
IWAE_PAPER_NLL = 86.76


def iwae_config(root: str, *, epochs: int, device: str, seed: int = 1):
    """The IWAE paper's one-stochastic-layer VAE (k = 1) in latentlab's config: a 784-200-200-50 tanh
    MLP each way, Bernoulli likelihood, dynamic binarization, batch 20, Adam (betas 0.9/0.999, eps 1e-4)
    at 1e-3 x 10^(-i/7) for the 3^i epochs of stage i."""
    from latentlab.core.config import DataConfig, ModelConfig, RunConfig, TrainConfig

    return RunConfig(
        data=DataConfig(name="mnist", root=root, binarize="dynamic"),
        model=ModelConfig(kind="mlp", latent_dim=50, hidden=(200, 200), activation="tanh", likelihood="bernoulli"),
        train=TrainConfig(
            epochs=epochs, batch_size=20, lr=1e-3, lr_schedule="iwae", adam_eps=1e-4, beta=1.0, seed=seed,
            device=device, checkpoint_every=epochs,
        ),
    )


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment_lines(device) -> list[tuple[str, str]]:
    """(label, value) rows describing where the figures were taken."""
    import os

    import torch
    import torchvision

    rows = [
        ("device", str(device) + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else "")),
        ("cpu", f"{cpu_name()}, {os.cpu_count()} logical cores"),
        ("torch", f"{torch.__version__} (torchvision {torchvision.__version__}, python {platform.python_version()})"),
        ("torch threads", f"{torch.get_num_threads()} intra-op, {torch.get_num_interop_threads()} inter-op, "
                          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')}"),
    ]
    try:
        load = os.getloadavg()
        rows.append(("load average", f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (1/5/15 min, at start)"))
    except OSError:
        pass
    return rows


def print_rows(rows: list[tuple[str, str]], indent: str = "  ") -> None:
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{indent}{label:<{width}}  {value}")


def print_table(header: list[str], rows: list[list[str]], indent: str = "  ") -> None:
    """Columns right-aligned except the first; a rule under the header."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def fmt(r):
        cells = [f"{str(r[0]):<{widths[0]}}"] + [f"{str(c):>{w}}" for c, w in zip(r[1:], widths[1:])]
        return indent + "  ".join(cells).rstrip()

    print(fmt(header))
    print(indent + "  ".join("-" * w for w in widths))
    for r in rows:
        print(fmt(r))
