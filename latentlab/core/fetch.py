"""Download MNIST, Fashion-MNIST or CIFAR-10 into torchvision's layout (Qt-free).

Where to download from and what the files must hash to come from torchvision's own
dataset classes (``MNIST.mirrors`` and ``.resources``, ``CIFAR10.url`` and ``.tgz_md5``),
so a download is exactly the set of files torchvision itself would fetch, verified with
its checksums and unpacked by its ``extract_archive``. What we add over
``download=True``: progress with sizes and a rate, a cancel flag checked between chunks,
and failure that never leaves a half-written file where a later load would find it.

Every archive is streamed into a hidden temporary file beside its final name
(``.NAME.part``), checked against the Content-Length and the md5, and only then renamed
into place; unpacking goes through a hidden temporary folder in the same way.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shlex
import shutil
import ssl
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .errors import DataError, FetchCancelled

FETCHABLE = ("mnist", "fashion-mnist", "cifar10")
LABELS = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST", "cifar10": "CIFAR-10"}
CHUNK_BYTES = 64 * 1024
TIMEOUT_S = 20.0  # per connect and per read: a stalled server fails instead of hanging (and a cancel waits at most this)
PROGRESS_INTERVAL_S = 0.1  # report at most this often, so a GUI is not flooded with signals


@dataclass(frozen=True)
class FetchProgress:
    """How far the download of one file has got."""

    file: str  # the archive's name, e.g. train-images-idx3-ubyte.gz
    done_bytes: int
    total_bytes: int | None  # what the server's Content-Length says; None when it says nothing
    bytes_per_second: float  # average over this file so far
    file_number: int = 1  # 1-based, among the files this fetch downloads
    file_count: int = 1
    complete: bool = False  # this file is downloaded and verified

    def describe(self) -> str:
        """``4.2 of 9.9 MB, 1.3 MB/s`` (or ``4.2 MB, 1.3 MB/s`` with no size known)."""
        rate = f"{format_bytes(self.bytes_per_second)}/s"
        if self.total_bytes is None:
            return f"{format_bytes(self.done_bytes)}, {rate}"
        value, unit = _scaled(self.total_bytes)
        done = self.done_bytes / _UNITS[unit]
        return f"{done:.1f} of {value:.1f} {unit}, {rate}"


_UNITS = {"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9}


def _scaled(n: float) -> tuple[float, str]:
    unit = "B"
    for name, size in _UNITS.items():
        if n >= size:
            unit = name
    return n / _UNITS[unit], unit


def format_bytes(n: float) -> str:
    """Decimal units, as tqdm's ``unit_scale`` shows them: ``9.9 MB``."""
    value, unit = _scaled(n)
    return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"


@dataclass(frozen=True)
class _Archive:
    """One file torchvision downloads, and the files it reads once that is unpacked."""

    path: Path  # where the archive lives in torchvision's layout
    md5: str
    urls: tuple[str, ...]  # mirrors, tried in turn
    unpacked: tuple[tuple[Path, str | None], ...]  # (file, md5 torchvision checks or None)

    def unpacked_exist(self) -> bool:
        return all(p.is_file() for p, _ in self.unpacked)

    def unpacked_valid(self) -> bool:
        from torchvision.datasets.utils import check_integrity

        return all(check_integrity(str(p), md5) for p, md5 in self.unpacked)


@dataclass(frozen=True)
class _Plan:
    label: str
    folder: Path  # where the archives go (and, for MNIST, the unpacked files too)
    archives: tuple[_Archive, ...]
    by_hand: str  # "put ... into ... by hand"


def _plan(name: str, root: str | os.PathLike) -> _Plan:
    from torchvision import datasets

    if name not in FETCHABLE:
        raise DataError(f"There is nothing to download for {name!r}; choose one of {', '.join(FETCHABLE)}.")
    root = Path(root).expanduser()
    label = LABELS[name]
    if name == "cifar10":
        cls = datasets.CIFAR10
        batches = root / cls.base_folder
        unpacked = [(batches / f, md5) for f, md5 in (*cls.train_list, *cls.test_list)]
        unpacked.append((batches / cls.meta["filename"], cls.meta["md5"]))
        archive = _Archive(root / cls.filename, cls.tgz_md5, (cls.url,), tuple(unpacked))
        by_hand = f"put {cls.filename} from {cls.url} into {root}/ by hand"
        return _Plan(label, root, (archive,), by_hand)
    cls = datasets.MNIST if name == "mnist" else datasets.FashionMNIST
    raw = root / cls.__name__ / "raw"  # torchvision's raw_folder
    archives = tuple(
        _Archive(raw / filename, md5, tuple(f"{mirror}{filename}" for mirror in cls.mirrors),
                 ((raw / os.path.splitext(filename)[0], None),))
        for filename, md5 in cls.resources
    )
    count = {1: "one", 2: "two", 3: "three", 4: "four"}.get(len(archives), str(len(archives)))
    by_hand = f"put the {count} {label} .gz files from {cls.mirrors[0]} into {raw}/ by hand"
    return _Plan(label, raw, archives, by_hand)


def dataset_folder(name: str, root: str | os.PathLike) -> Path:
    """The folder of the files torchvision reads: ``root/MNIST/raw``, ``root/cifar-10-batches-py``, ..."""
    return _plan(name, root).archives[0].unpacked[0][0].parent


def by_hand(name: str, root: str | os.PathLike) -> str:
    """The clause that says which files to put where, for people with no network at hand."""
    return _plan(name, root).by_hand


def fetch_command(name: str, root: str | os.PathLike) -> str:
    """The command that downloads ``name`` into ``root``, quoted for a shell."""
    return f"latentlab fetch {name} --data-dir {shlex.quote(str(root))}"


# The files each dataset's loader reads. These are the formats' own names, unchanged since
# their publication, so the presence check needs no torchvision import: on the GUI thread
# that import would wait for the start-up warm-up importing it beside it, a second of
# frozen window. tests/core/test_fetch.py holds them equal to torchvision's own lists.
_MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
_CIFAR10_FILES = (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta")
# name -> ((archive, the files it unpacks into), ...), all relative to the data root
_LAYOUT: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "mnist": tuple((f"MNIST/raw/{f}.gz", (f"MNIST/raw/{f}",)) for f in _MNIST_FILES),
    "fashion-mnist": tuple((f"FashionMNIST/raw/{f}.gz", (f"FashionMNIST/raw/{f}",)) for f in _MNIST_FILES),
    "cifar10": (("cifar-10-python.tar.gz", tuple(f"cifar-10-batches-py/{f}" for f in _CIFAR10_FILES)),),
}


def is_present(name: str, root: str | os.PathLike) -> bool:
    """Whether loading ``name`` from ``root`` will find its files without a download.

    Either the unpacked files torchvision reads are there, or the archives it would
    unpack are. Only names are checked, not checksums, and torchvision is not imported,
    so this is cheap enough for a GUI thread; a damaged file is reported when the
    dataset is loaded.
    """
    if name not in FETCHABLE:
        return True
    root = Path(root).expanduser()
    return all(
        all((root / f).is_file() for f in unpacked) or (root / archive).is_file() for archive, unpacked in _LAYOUT[name]
    )


def files_exist(name: str, root: str | os.PathLike) -> bool:
    """Whether every file torchvision reads for ``name`` is in ``root`` (intact or not)."""
    return all(a.unpacked_exist() for a in _plan(name, root).archives)


def unpack_present_archives(name: str, root: str | os.PathLike) -> bool:
    """Unpack the verified archives already in ``root``, with no network; True if nothing is then missing.

    Raises ``DataError`` when an archive is there but fails torchvision's checksum.
    """
    from torchvision.datasets.utils import check_integrity

    plan = _plan(name, root)
    for archive in plan.archives:
        if archive.unpacked_valid():
            continue
        if not archive.path.is_file():
            return False
        if not check_integrity(str(archive.path), archive.md5):
            raise DataError(
                f"The {plan.label} archive {archive.path} is damaged or incomplete (its checksum does not match); "
                f"delete it and run {fetch_command(name, root)}."
            )
        _unpack(archive, plan.label)
    return True


Progress = Callable[[FetchProgress], None]


def fetch(
    name: str,
    root: str | os.PathLike,
    *,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> Path:
    """Download ``name`` into ``root`` in torchvision's layout, verify it and unpack it.

    Files already there and intact are kept; each missing archive is fetched from
    torchvision's mirrors in turn.

    Parameters
    ----------
    name
        One of ``FETCHABLE``.
    root
        The data folder (``--data-dir``); created if need be.
    progress
        Called with a ``FetchProgress`` as bytes arrive (at most every 0.1 s, and once
        when each file is complete), on the calling thread.
    cancel
        Set it from another thread to stop between two chunks.

    Returns
    -------
    Path
        The folder that now holds the files torchvision reads (``dataset_folder``).

    Raises
    ------
    FetchCancelled
        ``cancel`` was set; the file being downloaded was removed.
    DataError
        No mirror gave a verified file, or the folder cannot be written; nothing partial is left.
    """
    from torchvision.datasets.utils import check_integrity

    plan = _plan(name, root)
    try:
        plan.folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(
            f"Could not create the data folder {plan.folder} ({exc.strerror or exc}); choose a folder you can write to."
        ) from None
    todo = [a for a in plan.archives if not a.unpacked_valid()]  # as torchvision checks them
    downloads = [a for a in todo if not check_integrity(str(a.path), a.md5)]
    for number, archive in enumerate(downloads, 1):
        _download(plan, archive, number, len(downloads), progress, cancel)
    for archive in todo:
        _unpack(archive, plan.label)
    return dataset_folder(name, root)


class _Unreachable(Exception):
    """No connection to the server at all (as with no network)."""


class _Failed(Exception):
    """The server answered, but not with the whole, verified file."""


def _download(plan: _Plan, archive: _Archive, number: int, count: int, progress, cancel) -> None:
    failures: list[tuple[bool, str]] = []  # (unreachable, reason)
    for url in archive.urls:
        try:
            _download_from(url, archive, number, count, progress, cancel, plan.label)
            return
        except _Unreachable as exc:
            failures.append((True, f"no connection to {url} ({exc})"))
        except _Failed as exc:
            failures.append((False, f"{exc} at {url}"))
    if all(unreachable for unreachable, _ in failures):
        raise DataError(f"Could not download {plan.label} (no network connection); {plan.by_hand} and try again.")
    reasons = "; ".join(reason for _, reason in failures)
    raise DataError(f"Could not download {plan.label}: {reasons}; try again later, or {plan.by_hand}.")


def _download_from(url, archive: _Archive, number, count, progress, cancel, label) -> None:
    """Stream ``url`` into ``.NAME.part`` beside the archive; rename it into place once verified."""
    from torchvision.datasets.utils import USER_AGENT, check_integrity

    part = archive.path.with_name(f".{archive.path.name}.part")
    filename = archive.path.name

    def check_cancel() -> None:
        if cancel is not None and cancel.is_set():
            raise FetchCancelled(f"The {label} download was cancelled.")

    try:
        check_cancel()
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
        try:
            response = urllib.request.urlopen(request, timeout=TIMEOUT_S)
        except urllib.error.HTTPError as exc:  # before URLError: it is one, but the server did answer
            exc.close()
            raise _Failed(f"HTTP error {exc.code} ({exc.reason})") from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, ssl.SSLError):  # reached, but refused as insecure: not a missing network
                raise _Failed(f"no secure connection ({getattr(reason, 'reason', None) or reason})") from None
            raise _Unreachable(getattr(reason, "strerror", None) or str(reason)) from None
        with response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            started = last = time.monotonic()
            done = 0

            def report(complete: bool = False) -> None:
                if progress is not None:
                    rate = done / max(time.monotonic() - started, 1e-6)
                    progress(FetchProgress(filename, done, total, rate, number, count, complete))

            try:
                out = open(part, "wb")
            except OSError as exc:
                raise DataError(f"Could not write {part} ({exc.strerror or exc}); choose a folder you can write to.") from None
            with out:
                report()
                while True:
                    check_cancel()
                    try:
                        # read1: whatever has arrived, up to a chunk, so progress and cancel keep pace
                        # with a slow connection instead of waiting for 64 kB each time.
                        chunk = response.read1(CHUNK_BYTES)
                    except (OSError, http.client.HTTPException):  # reset, timed out, or cut short
                        chunk = None
                    if not chunk:
                        break
                    try:
                        out.write(chunk)
                    except OSError as exc:
                        raise DataError(
                            f"Could not write {part} ({exc.strerror or exc}); free some space or choose another folder."
                        ) from None
                    done += len(chunk)
                    if time.monotonic() - last >= PROGRESS_INTERVAL_S:
                        last = time.monotonic()
                        report()
                out.flush()
                os.fsync(out.fileno())
            if chunk is None or (total is not None and done < total):
                got = f"{format_bytes(done)} of {format_bytes(total)}" if total is not None else format_bytes(done)
                raise _Failed(f"the connection dropped after {got} of {filename}")
        if not check_integrity(str(part), archive.md5):
            raise _Failed(f"{filename} failed its checksum")
        os.replace(part, archive.path)
        report(complete=True)
    finally:
        # Whatever stopped us (cancel, failure, Ctrl-C), no partial file stays behind.
        with contextlib.suppress(OSError):
            part.unlink(missing_ok=True)


def _unpack(archive: _Archive, label: str) -> None:
    """torchvision's ``extract_archive`` into a hidden folder, then each file renamed into place.

    A kill mid-unpack leaves only the hidden folder, never a truncated file under the
    name torchvision reads.
    """
    import tarfile
    import zlib

    from torchvision.datasets.utils import extract_archive

    folder = archive.path.parent
    staging = Path(tempfile.mkdtemp(prefix=f".{archive.path.name}.", suffix=".unpack", dir=folder))
    try:
        try:
            extract_archive(str(archive.path), str(staging))
        except (OSError, EOFError, tarfile.TarError, zlib.error) as exc:
            raise DataError(
                f"The {label} archive {archive.path} could not be unpacked ({exc}); delete it and download it again."
            ) from None
        for path in sorted(staging.rglob("*")):
            if path.is_file():
                target = folder / path.relative_to(staging)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(path, target)
    except OSError as exc:
        raise DataError(f"Could not unpack {archive.path} ({exc.strerror or exc}); free some space and try again.") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)

