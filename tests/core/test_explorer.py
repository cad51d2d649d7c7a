"""The explorer model: what is drawn is always what a drag decodes, whatever the user does.

A stateful test (hypothesis) drives random sequences of start, snapshot, switch view,
t-SNE progress / finish / cancel, open run, drag, click, sample and scrubbing the timeline
(a stop is the final snapshot arriving), and after every step checks the model's invariants.
"""

from __future__ import annotations

import subprocess
import sys
from types import MappingProxyType

import numpy as np
import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from latentlab.core.errors import CheckpointError
from latentlab.core.events import EpochSnapshot
from latentlab.core.projection import ViewKind
from latentlab.gui.explorer import LAYOUTS, Change, Explorer, MarkerSource, RunContents


class FakeDecoder:
    def __init__(self, model_config, image_shape, state):
        self.latent_dim = int(model_config["latent_dim"])
        self.state = state

    def update(self, state):
        self.state = state

    def decode(self, z):
        return np.zeros((len(z), 1, 2, 2), dtype=np.float32)


def contents(dim: int, n: int, name: str = "run") -> RunContents:
    from pathlib import Path

    return RunContents(
        run_dir=Path("/runs") / name, config={"model": {"latent_dim": dim}}, image_shape=(1, 2, 2),
        test_images=np.zeros((n, 1, 2, 2), np.uint8), test_labels=np.arange(n) % 3, classes=("a", "b", "c"),
    )


def snapshot(latents: np.ndarray, epoch: int) -> EpochSnapshot:
    n, d = latents.shape
    latents = np.array(latents, dtype=np.float32)
    latents.flags.writeable = False
    return EpochSnapshot(
        epoch=epoch, step=epoch * 10, test_recon=1.0, test_kl=1.0, test_total=2.0, latents=latents,
        logvars=np.zeros_like(latents), kl_per_dim=np.zeros(d, np.float32), item_recon=np.zeros(n, np.float32),
        probe_indices=np.zeros(1, np.int64), probe_recons=np.zeros((1, 1, 2, 2), np.float32),
        worst_indices=np.zeros(1, np.int64), worst_recons=np.zeros((1, 1, 2, 2), np.float32),
        decoder_state=MappingProxyType({"epoch": np.array(epoch)}),
    )


class ExplorerMachine(RuleBasedStateMachine):
    """The app's controllers, played by hand: fits and t-SNE layouts arrive when a rule says so."""

    def __init__(self):
        super().__init__()
        self.rng = np.random.default_rng(0)
        self.pending_fits = []
        self.tsne_requests = []  # every t-SNE asked for, by the user or for another epoch, newest last
        self.explorer = Explorer(FakeDecoder, fit=self.pending_fits.append, lay_out=self.tsne_requests.append)
        self.changes = []
        self.explorer.subscribe(self.changes.append)
        self.epoch = 0
        self.dim = 2
        self.n = 10

    # -- runs and snapshots -------------------------------------------------------------------
    @initialize(dim=st.sampled_from([2, 16]), n=st.sampled_from([3, 12]))
    def start_a_run_with_its_first_snapshot(self, dim, n):
        self.start_or_open_a_run(dim, n)
        self.snapshot_arrives(1.0, deliver_fit=True)

    @rule(dim=st.sampled_from([1, 2, 3, 16]), n=st.sampled_from([1, 2, 3, 12]))
    def start_or_open_a_run(self, dim, n):
        self.dim, self.n, self.epoch = dim, n, 0
        self.explorer.load(contents(dim, n))
        assert self.explorer.view is None and self.explorer.marker is None and self.explorer.snapshot is None
        assert self.explorer.selections == {} and self.explorer.direction is None

    @precondition(lambda self: self.explorer.contents is not None)
    @rule(scale=st.floats(0.1, 5.0), deliver_fit=st.booleans())
    def snapshot_arrives(self, scale, deliver_fit):
        self.epoch += 1
        before = (self.explorer.chosen, self.explorer.view, self.explorer.marker)
        tsne_in_flight = self.explorer.tsne is not None
        replaying, shown = not self.explorer.following, self.explorer.snapshot
        self.explorer.apply_snapshot(snapshot(self.rng.standard_normal((self.n, self.dim)) * scale, self.epoch))
        assert self.explorer.timeline.epochs[-1] == self.epoch
        if tsne_in_flight or replaying:  # a snapshot mid-t-SNE or mid-replay neither flips the selector nor moves the marker
            assert (self.explorer.chosen, self.explorer.view) == before[:2]
            assert self.explorer.marker is before[2]
        if replaying:  # the epoch replayed stays on screen; the newest waits on the scrubber
            assert self.explorer.snapshot is shown and not self.explorer.following
        if deliver_fit and self.pending_fits:  # the fitting thread was quick this time
            self.a_fit_arrives(newest=True)

    @precondition(lambda self: self.explorer.snapshot is not None)
    @rule(which=st.integers(0, 20), deliver_fit=st.booleans())
    def scrub_to_an_epoch(self, which, deliver_fit):
        epochs = self.explorer.timeline.epochs
        epoch, before = epochs[which % len(epochs)], self.explorer.snapshot
        try:
            assert self.explorer.show_epoch(epoch)
        except CheckpointError:  # an epoch no longer in memory, with no frame on disk to read
            assert self.explorer.snapshot is before
            return
        event("scrubbed to an older epoch" if epoch != epochs[-1] else "scrubbed to the newest epoch")
        assert self.explorer.snapshot.epoch == epoch and self.explorer.following == (epoch == epochs[-1])
        if deliver_fit and self.pending_fits:
            self.a_fit_arrives(newest=True)

    @precondition(lambda self: self.pending_fits)
    @rule(newest=st.booleans())
    def a_fit_arrives(self, newest):
        from latentlab.core.projection import fit_view

        request = self.pending_fits.pop(-1 if newest else 0)
        shown = self.explorer.view_fitted(request, fit_view(request.kind, request.latents, request.previous))
        if shown:
            assert self.explorer.view.latents is request.latents

    # -- views ---------------------------------------------------------------------------------
    @rule(kind=st.sampled_from([ViewKind.LATENT, ViewKind.PCA, ViewKind.TSNE, ViewKind.UMAP]),
          first_layout=st.sampled_from([None, 0.3, 1.0]))
    def choose_view(self, kind, first_layout):
        request = self.explorer.choose_view(kind)
        if request is not None:
            self.tsne_requests.append(request)
            if first_layout is not None:  # the t-SNE thread's first chunk (or all of it) came back
                self.tsne_progress(0, first_layout)

    @precondition(lambda self: self.tsne_requests)
    @rule(which=st.integers(0, 5), fraction=st.sampled_from([0.2, 0.5, 1.0]))
    def tsne_progress(self, which, fraction):
        request = self.tsne_requests[-1 - which % len(self.tsne_requests)]
        current = self.explorer.tsne
        shown = self.explorer.tsne_progress(request.generation, self.rng.standard_normal((len(request.latents), 2)),
                                            fraction)
        # Only the t-SNE in flight may replace the view; a stale one never does.
        assert shown == (current is not None and request.generation == current.generation)

    @rule()
    def cancel_tsne(self):
        self.explorer.cancel_tsne()

    # -- the marker ------------------------------------------------------------------------------
    @precondition(lambda self: self.explorer.view is not None)
    @rule(x=st.floats(-10, 10), y=st.floats(-10, 10))
    def drag(self, x, y):
        marker = self.explorer.drag(x, y)
        event(f"drag in a {self.explorer.view.kind.value} view")
        assert marker.source is MarkerSource.DRAG and (marker.x, marker.y) == (x, y)

    @precondition(lambda self: self.explorer.view is not None)
    @rule(index=st.integers(0, 11))
    def click_a_point(self, index):
        self.explorer.select_item(index)

    @precondition(lambda self: self.explorer.view is not None)
    @rule()
    def sample_from_the_prior(self):
        self.explorer.sample_prior(self.rng)

    @rule(which=st.sampled_from(["A", "B"]))
    def set_endpoint(self, which):
        self.explorer.set_endpoint(which)
        if self.explorer.marker is not None:
            np.testing.assert_array_equal(self.explorer.endpoints[which], self.explorer.marker.latent)

    @precondition(lambda self: self.explorer.snapshot is not None)
    @rule(which=st.sampled_from(["A", "B"]), indices=st.lists(st.integers(-2, 13), max_size=6))
    def select_points(self, which, indices):
        chosen = self.explorer.select_points(which, indices)
        valid = sorted({i for i in indices if 0 <= i < self.n})  # out-of-range indices are dropped
        assert (chosen is None) == (not valid) and (which in self.explorer.selections) == bool(valid)
        if valid:
            assert chosen.indices.tolist() == valid

    @rule(t=st.floats(-3, 3), then=st.floats(-3, 3))
    def walk_along_the_direction(self, t, then):
        direction = self.explorer.direction
        marker = self.explorer.move_along_direction(t)
        assert (marker is None) == (direction is None)
        if marker is not None:
            event("walked along a direction")
            assert marker.source is MarkerSource.DIRECTION and self.explorer.direction_offset == t
            np.testing.assert_allclose(marker.latent, direction.origin + t * direction.unit)
            again = self.explorer.move_along_direction(then)  # from the same origin, not from where t went
            np.testing.assert_allclose(again.latent - direction.origin, then * direction.unit, atol=1e-9)

    # -- invariants --------------------------------------------------------------------------------
    @invariant()
    def shown_points_are_the_views_transform_of_its_latents(self):
        view = self.explorer.view
        if view is None:
            return
        np.testing.assert_allclose(view.points, view.projection.transform(view.latents), atol=1e-9)
        assert view.latents.shape == (self.n, self.dim)

    @invariant()
    def the_marker_decodes_the_shown_views_inverse_at_its_position(self):
        marker, view = self.explorer.marker, self.explorer.view
        if marker is None:
            return
        assert view is not None and marker.latent.shape == (self.dim,)
        if marker.source is MarkerSource.DRAG:
            expected = view.projection.inverse(np.array([[marker.x, marker.y]]))[0]
            np.testing.assert_allclose(marker.latent, expected, atol=1e-9)
        elif marker.source is MarkerSource.ITEM:
            np.testing.assert_array_equal(marker.latent, view.latents[marker.item])
            np.testing.assert_allclose((marker.x, marker.y), view.points[marker.item])
        else:
            np.testing.assert_allclose((marker.x, marker.y), view.projection.transform(marker.latent[None])[0])

    @invariant()
    def a_drag_anywhere_decodes_the_shown_views_inverse_there(self):
        view = self.explorer.view
        if view is None:
            return
        for x, y in (view.points.mean(axis=0), view.points[0] * 1.3 + 0.5, (-7.0, 3.0)):
            np.testing.assert_allclose(self.explorer.latent_at(x, y), view.projection.inverse(np.array([[x, y]]))[0])

    @invariant()
    def the_view_is_of_the_kind_asked_for_or_a_t_sne_on_its_way(self):
        view = self.explorer.view
        if view is None or self.explorer.tsne is not None:
            return
        if self.explorer.chosen in LAYOUTS:
            assert view.kind is self.explorer.chosen or self.pending_fits
        elif view.kind in LAYOUTS:
            assert self.pending_fits  # a refit of the chosen kind is on its way
        elif not self.pending_fits:
            assert view.kind in _possible(self.explorer.chosen, self.dim, self.n)


def _possible(kind: ViewKind, dim: int, n: int) -> set[ViewKind]:
    if dim == 2:
        return {ViewKind.LATENT}
    if dim > 2 and n >= 3:
        return {ViewKind.PCA}
    return {ViewKind.AXES}


ExplorerMachine.TestCase.settings = settings(
    max_examples=100, stateful_step_count=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
test_the_explorer_model_keeps_its_invariants = ExplorerMachine.TestCase


def test_a_drag_during_t_sne_decodes_through_the_shown_t_sne_view():
    """The defect that started it: mid-t-SNE, a drag decoded through the PCA inverse."""
    explorer = Explorer(FakeDecoder)
    explorer.load(contents(16, 200))
    rng = np.random.default_rng(1)
    latents = rng.standard_normal((200, 16))
    explorer.apply_snapshot(snapshot(latents, 1))
    assert explorer.view.kind is ViewKind.PCA
    request = explorer.choose_view(ViewKind.TSNE)
    layout = rng.standard_normal((200, 2)) * 30
    explorer.tsne_progress(request.generation, layout, 0.3)
    explorer.apply_snapshot(snapshot(latents * 1.1, 2))  # mid-t-SNE: the view must not flip back
    assert explorer.view.kind is ViewKind.TSNE and explorer.chosen is ViewKind.TSNE
    marker = explorer.drag(*layout[7] * 0.87)
    # Within the scale of the test latents, unlike the PCA inverse far off the plane.
    assert np.abs(marker.latent).max() <= np.abs(request.latents).max() + 1e-9
    np.testing.assert_allclose(marker.latent, explorer.view.projection.inverse(np.array([layout[7] * 0.87]))[0])
    assert "approximate" in explorer.view.projection.describe() and "in progress" in explorer.view.projection.describe()


def test_a_stale_t_sne_never_replaces_a_newer_view():
    explorer = Explorer(FakeDecoder)
    explorer.load(contents(8, 30))
    explorer.apply_snapshot(snapshot(np.random.default_rng(2).standard_normal((30, 8)), 1))
    old = explorer.choose_view(ViewKind.TSNE)
    explorer.cancel_tsne()
    new = explorer.choose_view(ViewKind.TSNE)
    assert not explorer.tsne_progress(old.generation, np.zeros((30, 2)), 1.0)
    assert explorer.tsne_progress(new.generation, np.ones((30, 2)), 1.0)
    explorer.load(contents(8, 30, "another"))  # opening another run makes everything older stale
    assert not explorer.tsne_progress(new.generation, np.ones((30, 2)), 1.0) and explorer.view is None


def test_every_change_is_announced():
    explorer = Explorer(FakeDecoder)
    seen = []
    explorer.subscribe(seen.append)
    explorer.load(contents(2, 5))
    explorer.apply_snapshot(snapshot(np.random.default_rng(3).standard_normal((5, 2)), 1))
    explorer.drag(0.5, 0.5)
    explorer.set_endpoint("A")
    union = Change(0)
    for change in seen:
        union |= change
    assert union == (Change.RUN | Change.SNAPSHOT | Change.VIEW | Change.MARKER | Change.ENDPOINTS | Change.TSNE
                     | Change.TIMELINE)


def test_the_explorer_imports_no_qt():
    code = "import sys, latentlab.gui.explorer; print(any(m.startswith('PySide6') for m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"
