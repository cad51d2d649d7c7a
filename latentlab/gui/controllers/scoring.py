"""Likelihoods off the GUI thread: the test set's NLL, and the user's own images encoded and scored.

One worker thread builds the whole model from the newest snapshot's weights (the GUI
thread's decoder copy is its own and is never shared) and runs ``core.evaluate.item_scores``
with K importance samples. The user's images go first, since they are a handful and someone
waits for them: even a test-set job in flight lets them in between two of its batches. A
test-set job is abandoned between batches once another run or a newer request makes it stale. Results cross back as queued signals naming the snapshot they
scored, and ``Scores`` drops those of a model no longer on screen.
"""

from __future__ import annotations

import threading
import traceback
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
from PySide6.QtCore import QObject, Qt, Signal

from latentlab.core.errors import LatentlabError, os_error_sentence

from ..explorer import Change, Explorer, MarkerSource
from ..scores import Scores, TestNLL
from ..workers import TSNE_NICENESS, lower_this_threads_priority


@dataclass(frozen=True)
class _Model:
    """What the worker needs to rebuild the model a snapshot shows (frozen CPU arrays only)."""

    at: tuple[int, int]  # (epoch, step)
    config: Mapping[str, Any]
    image_shape: tuple[int, int, int]
    snapshot: Any  # the frozen EpochSnapshot whose weights these are: its identity names the model


@dataclass(frozen=True)
class _InputJob:
    model: _Model
    samples: int  # K
    ids: tuple[int, ...]
    images: np.ndarray  # (N, C, H, W) uint8


@dataclass(frozen=True)
class _ReadJob:
    """Image files to read and prepare as the run's items (big files take a while: never on the GUI thread)."""

    contents: Any  # the RunContents they are for: dropped when another run is on screen
    spec: Any  # core.user_images.ImageSpec
    paths: tuple[Path, ...]
    skipped: int  # files beyond MAX_FILES, to say so


@dataclass(frozen=True)
class _TestJob:
    model: _Model
    samples: int  # K
    images: np.ndarray
    run_dir: Path | None  # where to keep the result (run.json), if it is saved at this step
    token: int


class _Stale(Exception):
    """Raised inside a test-set job's progress callback once its answer is no longer wanted."""


class ScoringController(QObject):
    inputs_scored = Signal(object, int, object)  # (epoch, step), K, (ids, mu, logvar, neg_elbo, nll)
    files_read = Signal(object, object, object)  # RunContents, [(name, image)], [problem sentences]
    test_scored = Signal(object, int)  # TestNLL | None, token
    test_progress = Signal(int, int)  # items done, items in all
    failed = Signal(str)

    def __init__(self, explorer: Explorer, scores: Scores, parent: QObject | None = None):
        super().__init__(parent)
        self.explorer, self.scores = explorer, scores
        self._jobs: deque = deque()
        self._wake = threading.Condition()
        self._closed = False
        self._test_token = 0  # the test-set job wanted now; others are stale
        self._finished_run = False  # a finished run's test NLL waits for its newest epoch on screen
        self._built: dict[tuple, Any] = {}  # the worker's models, by snapshot (worker thread only)
        self.inputs_scored.connect(self._on_inputs_scored, Qt.ConnectionType.QueuedConnection)
        self.test_scored.connect(self._on_test_scored, Qt.ConnectionType.QueuedConnection)
        self.files_read.connect(self._on_files_read, Qt.ConnectionType.QueuedConnection)
        self._thread = threading.Thread(target=self._run, name="latentlab-scoring", daemon=True)
        self._thread.start()
        explorer.subscribe(self._on_change)

    # -- what the window asks for -------------------------------------------------------------
    def encode(self, name: str, image: np.ndarray) -> None:
        """Add one prepared image (C, H, W) uint8 and score it under the model on screen."""
        self.scores.add(name, image)
        self._score_unscored()

    def read_and_encode(self, spec, paths, skipped: int = 0) -> None:
        """Read these files on the worker, prepared by ``spec``; the readable ones are then encoded together,
        and the others are one dialog."""
        self._submit(_ReadJob(self.explorer.contents, spec, tuple(Path(p) for p in paths), skipped), first=True)

    def compute_test_nll(self) -> bool:
        """Score every test item under the model on screen; False when there is none, or it lacks an encoder."""
        model = self._model()
        contents = self.explorer.contents
        if model is None or contents is None:
            return False
        self._test_token += 1
        # Kept in run.json when that still describes this model and no trainer holds the folder.
        self._submit(_TestJob(model, self.scores.samples, contents.test_images, contents.run_dir, self._test_token),
                     first=False)
        self.scores.test_started()
        return True

    def set_samples(self, k: int) -> None:
        """Score with K = ``k`` from now on: the images at once; the test items when next asked (or needed)."""
        if self.scores.set_samples(k):
            if self.scores.pending_test:
                self.compute_test_nll()  # the one in flight is of the old K: stopped at its next batch
            self._score_unscored()

    def place_input(self, item_id: int) -> bool:
        """Put the marker on one of the user's scored images: its posterior mean, where the view shows it."""
        item = next((i for i in self.scores.inputs if i.id == item_id), None)
        if item is None or item.mu is None:
            return False
        return self.explorer.place_latent(item.mu, MarkerSource.INPUT, item.id) is not None

    def shutdown(self, timeout: float = 2.0) -> None:
        """Stop the worker: a job in flight ends at its next batch. The thread is a daemon, so a batch
        longer than ``timeout`` delays nothing but itself."""
        with self._wake:
            self._closed = True
            self._test_token += 1  # a test-set job in flight stops at its next batch
            self._wake.notify()
        self._thread.join(timeout)

    @property
    def busy(self) -> bool:
        return self._thread.is_alive()

    # -- the explorer's changes ----------------------------------------------------------------
    def score_finished_run(self) -> None:
        """The test NLL of a run that finished training: of its newest epoch, so it waits while the
        user replays an earlier one."""
        self._finished_run = True
        self._on_change(Change.TIMELINE)

    def _on_change(self, change: Change) -> None:
        if Change.TIMELINE in change and self._finished_run and self.explorer.following:
            self._finished_run = False
            self.compute_test_nll()
        if Change.RUN in change:
            self._finished_run = False
            self._test_token += 1  # the last run's test set is not wanted any more
            with self._wake:
                self._jobs.clear()
        elif Change.SNAPSHOT in change:
            if self.scores.pending_test and self.scores.inputs:
                self.compute_test_nll()  # the percentiles need this model's test NLL, not the last one's
            self._score_unscored()  # the inputs land where the newer model puts them

    def _model(self) -> _Model | None:
        snap, contents = self.explorer.snapshot, self.explorer.contents
        if snap is None or contents is None or not snap.encoder_state:
            return None
        return _Model((snap.epoch, snap.step), contents.config["model"], contents.image_shape, snap)

    def _score_unscored(self) -> None:
        todo = self.scores.unscored()
        model = self._model()
        if todo and model is not None:
            self._submit(_InputJob(model, self.scores.samples, tuple(i.id for i in todo),
                                   np.stack([i.image for i in todo])), first=True)

    def _submit(self, job, first: bool) -> None:
        with self._wake:
            if first:
                if isinstance(job, _InputJob):  # it scores every image not yet scored: older such jobs are moot
                    self._jobs = deque(j for j in self._jobs if not isinstance(j, _InputJob))
                    reads = [j for j in self._jobs if isinstance(j, _ReadJob)]
                    rest = [j for j in self._jobs if not isinstance(j, _ReadJob)]
                    self._jobs = deque([*reads, job, *rest])  # files being read stay ahead: they add images
                else:
                    self._jobs.appendleft(job)
            else:
                self._jobs = deque(j for j in self._jobs if not isinstance(j, _TestJob))  # the newest test job only
                self._jobs.append(job)
            self._wake.notify()

    # -- results, on the GUI thread -------------------------------------------------------------
    def _on_inputs_scored(self, at, samples: int, result) -> None:
        ids = set(int(i) for i in result[0])
        fresh = [i.id for i in self.scores.inputs if i.id in ids and i.scored_at is None]  # never scored before
        if not self.scores.inputs_scored(at, samples, *result):
            return
        marker = self.explorer.marker
        if fresh:
            self.place_input(max(fresh))  # a new image: the marker lands on its posterior mean
        elif marker is not None and marker.source is MarkerSource.INPUT and marker.item in ids:
            self.place_input(marker.item)  # rescored by a newer model: the marker follows it
        if not self.scores.test_is_current(per_item=True) and not self.scores.pending_test:
            self.compute_test_nll()  # its percentile needs the test items scored by the same model

    def _on_files_read(self, contents, prepared, problems) -> None:
        if contents is not self.explorer.contents:
            return  # read for a run no longer on screen
        for name, image in prepared:
            self.scores.add(name, image)
        self._score_unscored()
        if problems:
            more = f" ({len(problems) - 1} more could not be encoded either.)" if len(problems) > 1 else ""
            self.failed.emit(problems[0] + more)

    def _on_test_scored(self, result, token: int) -> None:
        if token != self._test_token:
            return
        self.scores.test_scored(result)

    # -- the worker thread ------------------------------------------------------------------------
    def _run(self) -> None:
        import torch

        lower_this_threads_priority(TSNE_NICENESS)  # after training and the GUI
        torch.set_num_threads(1)  # one core's worth: training keeps the others
        while True:
            with self._wake:
                while not self._jobs and not self._closed:
                    self._wake.wait()
                if self._closed:
                    return
                job = self._jobs.popleft()
            self._do(job)

    def _do(self, job) -> None:
        try:
            if isinstance(job, _ReadJob):
                self._read(job)
            elif isinstance(job, _InputJob):
                self._score_inputs(self._model_for(job.model), job)
            else:
                self._score_test(self._model_for(job.model), job)
        except _Stale:
            pass
        except LatentlabError as exc:
            self._failed(job, str(exc))
        except OSError as exc:
            self._failed(job, os_error_sentence(exc))
        except Exception as exc:  # noqa: BLE001 - a bug here must not end the thread silently
            traceback.print_exception(exc)
            self._failed(job, f"Scoring failed unexpectedly ({type(exc).__name__}: {exc}); "
                              f"the details are printed on the console.")

    def _model_for(self, model: _Model):
        """The VAE of ``model``'s snapshot, built once: the newest two are kept (a test set and images may
        differ). Each entry holds its snapshot, so the identity that keys it is never reused meanwhile."""
        key = id(model.snapshot)
        entry = self._built.get(key)
        if entry is None or entry[0] is not model.snapshot:
            entry = (model.snapshot, _build(model))
            self._built = {**dict(list(self._built.items())[-1:]), key: entry}
        return entry[1]

    def _serve_inputs(self) -> None:
        """Score the images queued meanwhile: someone waits for them, so they go between two test batches."""
        while True:
            with self._wake:
                if self._closed or not self._jobs or not isinstance(self._jobs[0], (_InputJob, _ReadJob)):
                    return
                job = self._jobs.popleft()
            self._do(job)

    def _failed(self, job, message: str) -> None:
        self.failed.emit(message)
        if isinstance(job, _TestJob):
            self.test_scored.emit(None, job.token)  # no longer pending

    def _score_inputs(self, model, job: _InputJob) -> None:
        import torch

        from latentlab.core.evaluate import item_scores

        def progress(done: int, n: int) -> None:
            if self._closed:
                raise _Stale

        images = torch.from_numpy(np.array(job.images, copy=True))  # torch wants a writable array
        s = item_scores(model, images, samples=job.samples, progress=progress)
        self.inputs_scored.emit(job.model.at, job.samples, (job.ids, s.mu.numpy(), s.logvar.numpy(), s.neg_elbo.numpy(),
                                               s.nll.numpy()))

    def _score_test(self, model, job: _TestJob) -> None:
        import torch

        from latentlab.core.checkpoint import record_evaluation
        from latentlab.core.evaluate import item_scores

        def progress(done: int, n: int) -> None:
            if job.token != self._test_token:
                raise _Stale
            self.test_progress.emit(done, n)
            self._serve_inputs()

        images = torch.from_numpy(np.array(job.images, copy=True))  # torch wants a writable array
        s = item_scores(model, images, samples=job.samples, progress=progress)
        per_item = s.nll.numpy().astype(np.float64)
        per_item.flags.writeable = False
        epoch, step = job.model.at
        result = TestNLL(epoch, step, job.samples, float(per_item.mean()), float(s.neg_elbo.mean()), per_item)
        problem = None
        if job.run_dir is not None:  # kept beside the checkpoint it scores, when that is the run's latest
            try:
                record_evaluation(job.run_dir, step, {"nll": result.mean, "neg_elbo": result.neg_elbo,
                                                      "iw_samples": job.samples, "n_items": len(per_item)})
            except LatentlabError as exc:
                problem = f"{exc} The test NLL is shown but not kept."
        self.test_scored.emit(result, job.token)  # kept (where it can be) by the time it is on screen
        if problem:
            self.failed.emit(problem)

    def _read(self, job: _ReadJob) -> None:
        from latentlab.core.user_images import read_image

        prepared, problems = [], []
        for path in job.paths:
            if self._closed:
                return
            try:
                prepared.append((path.name, read_image(path, job.spec)))
            except LatentlabError as exc:
                problems.append(str(exc))
            except OSError as exc:
                problems.append(os_error_sentence(exc))
        if job.skipped:
            problems.append(f"Only the first {len(job.paths)} of {len(job.paths) + job.skipped} files were encoded.")
        self.files_read.emit(job.contents, prepared, problems)


def _build(model: _Model):
    """The whole VAE a snapshot describes, on the CPU, built from its frozen weights without copying twice."""
    import torch

    from latentlab.core.config import ModelConfig
    from latentlab.core.model import build_from_state

    cfg = ModelConfig(**{**model.config, "hidden": tuple(model.config.get("hidden", (400,)))})
    tensors = {k: torch.from_numpy(np.array(v, copy=True)) for k, v in model.snapshot.model_state.items()}
    return build_from_state(cfg, tuple(model.image_shape), tensors)
