"""A UMAP view of a latent space (umap-learn, the optional extra ``latentlab[umap]``).

``umap_layout`` is a generator of ``LayoutProgress``, like ``tsne_layout``: the GUI runs it
on a worker thread, draws each partial layout, and takes the final record's
``projection`` (a ``UMAPProjection``) as the view. umap-learn has no per-epoch callback,
so the layout is optimised here with umap's own pieces, one epoch at a time:

1. ``UMAP(transform_mode="graph").fit`` builds the fuzzy neighbour graph, and with it
   everything umap's ``transform`` and ``inverse_transform`` need later (the raw data, the
   k-NN index, sigmas and rhos, a and b), without laying anything out.
2. The SGD of ``umap.layouts.optimize_layout_euclidean`` is replayed epoch by epoch with
   umap's single-epoch kernel, keeping its state (next-sample epochs, random state,
   learning-rate schedule) across epochs, so chunking changes nothing in the result
   (``tests/core/test_umap_view.py`` checks it is the same layout as umap's own loop).
3. The final layout becomes the fitted model's ``embedding_``; the first calls of the view's
   ``inverse`` and ``transform`` (numba compiles them: seconds) are made on the worker before
   the final record is yielded, so the GUI thread never compiles.

A partial layout is decoded by nearest neighbours (``UMAPPartialProjection``, a t-SNE-like
view of kind UMAP); the final view by umap's inverse. umap's ``inverse_transform`` itself
costs seconds per call: it triangulates the whole layout,
walks every triangle in Python and JIT-compiles its SGD kernel anew each time.
``UMAPProjection.inverse`` runs the same algorithm with the triangulation, the adjacency
and the compiled kernel made once, on the worker, so a drag costs milliseconds (and gives
the same latents as ``inverse_transform``, which the tests check).

umap and numba are imported only inside functions: importing them takes seconds.
"""

from __future__ import annotations

import contextlib
import importlib.util
import threading
import warnings
from typing import Iterator

import numpy as np

from .errors import ConfigError
from .projection import LayoutProgress, TSNEProjection, ViewKind, _neighbour_mean

MIN_POINTS = 5  # fewer and the neighbour graph and the triangulation are meaningless
_INSTALL = "pip install 'latentlab[umap]'"

# umap's kernels, compiled once per process: umap wraps its inverse kernel (and, before 0.5.7,
# its layout kernel) in a fresh numba.njit on every call, which compiles it again.
_KERNELS: dict[str, object] = {}
_KERNELS_LOCK = threading.Lock()

# Held while umap runs numba's parallel kernels (its graph building, its transform): numba's
# workqueue threading layer, the one on a Mac without libomp, aborts the process when two
# threads run parallel kernels at once, as the worker and the GUI thread could.
_PARALLEL = threading.Lock()


def umap_available() -> bool:
    """True when umap-learn (and numba, pynndescent) can be imported; imports nothing."""
    try:
        return all(importlib.util.find_spec(name) is not None for name in ("umap", "numba", "pynndescent"))
    except (ImportError, ValueError):  # a parent package that is broken, or None in sys.modules
        return False


@contextlib.contextmanager
def _quiet_umap():
    """Silence umap's known notices, on the worker around umap's own calls only (warnings'
    filters are process-wide, so never on the GUI thread's per-frame path).

    - ImportWarning: its ``__init__`` says ParametricUMAP needs TensorFlow, which we never use.
    - the spectral initialisation's fallback to a random one: the layout is still made.
    - a few disconnected vertices: they are still laid out (here, where their init put them).
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Tensorflow not installed", category=ImportWarning)
        warnings.filterwarnings("ignore", message=r"Spectral initialisation failed")
        warnings.filterwarnings("ignore", message=r"A few of your vertices were disconnected")
        yield


def _import_umap():
    """The ``umap.umap_`` module, or a ConfigError that says how to install it."""
    try:
        with _quiet_umap():
            from umap import umap_  # noqa: PLC0415 - seconds of numba import, only when asked for
    except ImportError as exc:
        raise ConfigError(f"The UMAP view needs the optional package umap-learn; install it with {_INSTALL}.") from exc
    return umap_


def _euclidean_epoch_kernel(parallel: bool):
    """umap's compiled single SGD epoch (euclidean output), and whether it takes one random state per point."""
    import inspect

    import numba
    from umap import layouts

    key = f"euclidean-{parallel}"
    with _KERNELS_LOCK:
        if key not in _KERNELS:
            getter = getattr(layouts, "_get_optimize_layout_euclidean_single_epoch_fn", None)
            if getter is not None:  # umap >= 0.5.7: the same dispatcher its transform uses
                fn = getter(parallel)
            else:
                fn = numba.njit(layouts._optimize_layout_euclidean_single_epoch, fastmath=True, parallel=parallel)
            params = list(inspect.signature(layouts._optimize_layout_euclidean_single_epoch).parameters)
            _KERNELS[key] = (fn, params[8] == "rng_state_per_sample")
        return _KERNELS[key]


def _inverse_sgd_kernel():
    """umap's ``optimize_layout_inverse`` for the euclidean metric, all epochs in one compiled call.

    The same arithmetic, in the same order, with the same random draws as umap's
    ``_optimize_layout_inverse_single_epoch`` with ``euclidean_grad``, less two small arrays
    allocated per sampled edge and the Python loop over epochs: 144 points on dense data cost
    1-2 ms an epoch there, which a grid redrawn on the GUI thread cannot afford.
    """
    import numba
    from umap.layouts import clip
    from umap.utils import tau_rand_int

    with _KERNELS_LOCK:
        if "inverse" in _KERNELS:
            return _KERNELS["inverse"]

        @numba.njit(fastmath=True)
        def optimize(z, raw, head, tail, weight, sigmas, rhos, epochs_per_sample, n_epochs, initial_alpha,
                     negative_sample_rate, gamma, rng_state):
            epochs_per_negative_sample = epochs_per_sample / negative_sample_rate
            epoch_of_next_negative_sample = epochs_per_negative_sample.copy()
            epoch_of_next_sample = epochs_per_sample.copy()
            n_vertices, dim = raw.shape[0], z.shape[1]
            alpha = initial_alpha
            for n in range(n_epochs):
                for i in range(epochs_per_sample.shape[0]):
                    if epoch_of_next_sample[i] > n:
                        continue
                    current, k = z[head[i]], tail[i]
                    other = raw[k]
                    dist = 0.0
                    for d in range(dim):
                        dist += (current[d] - other[d]) ** 2
                    dist = np.sqrt(dist)
                    grad_coeff = -(1 / (weight[i] * sigmas[k] + 1e-6))
                    for d in range(dim):
                        current[d] += clip(grad_coeff * ((current[d] - other[d]) / (1e-6 + dist))) * alpha
                    epoch_of_next_sample[i] += epochs_per_sample[i]
                    n_neg_samples = int((n - epoch_of_next_negative_sample[i]) / epochs_per_negative_sample[i])
                    for _ in range(n_neg_samples):
                        k = tau_rand_int(rng_state) % n_vertices
                        other = raw[k]
                        dist = 0.0
                        for d in range(dim):
                            dist += (current[d] - other[d]) ** 2
                        dist = np.sqrt(dist)
                        w_h = np.exp(-max(dist - rhos[k], 1e-6) / (sigmas[k] + 1e-6))
                        grad_coeff = -gamma * ((0 - w_h) / ((1 - w_h) * sigmas[k] + 1e-6))
                        for d in range(dim):
                            current[d] += clip(grad_coeff * ((current[d] - other[d]) / (1e-6 + dist))) * alpha
                    epoch_of_next_negative_sample[i] += n_neg_samples * epochs_per_negative_sample[i]
                alpha = initial_alpha * (1.0 - float(n) / float(n_epochs))

        _KERNELS["inverse"] = optimize
        return optimize


# ---------------------------------------------------------------------------- the layout


def umap_layout(
    latents: np.ndarray,
    *,
    init: np.ndarray | None = None,
    n_neighbors: int = 15,
    min_dist: float = 0.1,
    epochs: int | None = None,
    chunk: int = 10,
    cancel: threading.Event | None = None,
    seed: int | None = 0,
    n_jobs: int = 1,
    epoch: int | None = None,
) -> Iterator[LayoutProgress]:
    """Compute a UMAP layout in chunks of ``chunk`` SGD epochs, yielding progress after each.

    Parameters
    ----------
    latents
        (N, D) points to lay out, N >= 5.
    init
        An earlier (N, 2) layout of the same points: the optimisation starts there, taken as
        it is (not rescaled, so the picture does not jump), with a quarter of the learning
        rate and, unless ``epochs`` is given, a quarter of the epochs. Ignored unless it is
        (N, 2) and finite.
    n_neighbors, min_dist
        umap's, n_neighbors capped at N - 1.
    epochs
        SGD epochs; umap's default (500 up to 10,000 points, 200 above) when None.
    chunk
        Epochs between two progress records.
    cancel
        Checked before every epoch: once set, the generator stops without yielding more.
        The graph construction before the first epoch cannot be interrupted.
    seed
        Makes the layout reproducible; None lets numba run the SGD on ``n_jobs`` threads.
    epoch
        The training epoch whose latents these are, for the view's caption.

    Yields
    ------
    LayoutProgress
        ``iteration`` counts SGD epochs out of ``total_iterations``. The last record is
        ``done`` and carries a ``UMAPProjection``; it comes after the JIT warm-up of the
        projection's ``transform`` and ``inverse``, so the GUI thread never compiles.

    Raises
    ------
    ConfigError
        Too few points, or umap-learn is not installed.
    """
    latents = np.ascontiguousarray(latents, dtype=np.float64)
    if latents.ndim != 2 or latents.shape[0] < MIN_POINTS:
        raise ConfigError(f"UMAP needs at least {MIN_POINTS} points to lay out, not {len(latents)}; "
                          f"encode more items or choose PCA.")
    umap_ = _import_umap()
    from sklearn.utils import check_random_state

    cancel = cancel or threading.Event()
    n = latents.shape[0]
    parallel = seed is None
    model = umap_.UMAP(
        n_neighbors=int(max(2, min(n_neighbors, n - 1))),  # umap warns, then caps, when it is >= N
        min_dist=min_dist,
        random_state=seed,
        n_jobs=n_jobs if parallel else 1,  # umap warns, then forces 1, when seeded
        transform_mode="graph",  # the graph and the search index only: the layout is made below
    )
    with _PARALLEL, _quiet_umap():
        model.fit(latents)
    if cancel.is_set():
        return
    random_state = check_random_state(seed)
    warm = init is not None and np.shape(init) == (n, 2) and bool(np.all(np.isfinite(init)))
    default_epochs = 500 if n <= 10000 else 200
    total = int(epochs) if epochs else (max(chunk, default_epochs // 4) if warm else default_epochs)
    graph = _pruned_graph(model.graph_, total, default_epochs)
    if warm:
        start = np.array(init, dtype=np.float32, order="C")
        alpha = model.learning_rate / 4.0  # umap's transform refines an existing layout at this rate
    else:
        start = _spectral_start(umap_, latents, graph, random_state)
        alpha = model.learning_rate
    if cancel.is_set():
        return
    sgd = _EpochSGD(start, graph, total, model._a, model._b, model.repulsion_strength, alpha,
                    model.negative_sample_rate, random_state, parallel)
    while sgd.epoch < total:
        stop = min(sgd.epoch + max(1, chunk), total)
        while sgd.epoch < stop:
            if cancel.is_set():
                return
            if parallel:  # seed=None: umap's parallel SGD kernel
                with _PARALLEL:
                    sgd.step()
            else:
                sgd.step()
        if sgd.epoch < total:  # the last layout comes with its projection, below
            yield LayoutProgress(sgd.epoch, total, _read_only(sgd.embedding), False)
    model.embedding_ = sgd.embedding.copy()
    model.transform_mode = "embedding"  # transform and inverse_transform refuse the "graph" mode
    model._n_features_out = 2
    projection = UMAPProjection(model, latents, epoch=epoch)
    projection.warm_up(cancel)
    if cancel.is_set():
        return
    yield LayoutProgress(total, total, projection.layout, True, projection)


def _read_only(array: np.ndarray) -> np.ndarray:
    out = np.array(array, dtype=np.float64, copy=True)
    out.flags.writeable = False
    return out


def _pruned_graph(graph, total: int, default_epochs: int):
    """The graph as umap's ``simplicial_set_embedding`` optimises it: edges too weak to be
    sampled once in ``total`` epochs are dropped."""
    graph = graph.tocoo()
    graph.sum_duplicates()
    floor = graph.data.max() / float(total if total > 10 else default_epochs)
    graph.data[graph.data < floor] = 0.0
    graph.eliminate_zeros()
    return graph


def _spectral_start(umap_, latents: np.ndarray, graph, random_state) -> np.ndarray:
    """umap's default start: a spectral layout of the graph, scaled into its 0-10 box."""
    from umap.spectral import spectral_layout

    with _quiet_umap():
        start = spectral_layout(latents, graph, 2, random_state, metric="euclidean", metric_kwds={})
    start = umap_.noisy_scale_coords(start, random_state, max_coord=10, noise=0.0001)
    span = np.maximum(start.max(0) - start.min(0), 1e-12)
    return (10.0 * (start - start.min(0)) / span).astype(np.float32, order="C")


class _EpochSGD:
    """``umap.layouts.optimize_layout_euclidean`` (without densMAP), one epoch per ``step``.

    The state that umap keeps in local variables of its loop (which edges are due, the
    random states, the learning rate) lives here, so a layout made in chunks is the layout
    made in one call.
    """

    def __init__(self, embedding, graph, total, a, b, gamma, initial_alpha, negative_sample_rate,
                 random_state, parallel):
        from umap.umap_ import INT32_MAX, INT32_MIN, make_epochs_per_sample

        self.kernel, per_sample = _euclidean_epoch_kernel(parallel)
        self.embedding = embedding  # float32 (N, 2), moved in place
        self.head, self.tail = graph.row, graph.col
        self.n_vertices = graph.shape[1]
        self.total = total
        self.a, self.b, self.gamma = float(a), float(b), float(gamma)
        self.initial_alpha = self.alpha = float(initial_alpha)
        self.epochs_per_sample = make_epochs_per_sample(graph.data, total)
        self.epochs_per_negative_sample = self.epochs_per_sample / negative_sample_rate
        self.epoch_of_next_negative_sample = self.epochs_per_negative_sample.copy()
        self.epoch_of_next_sample = self.epochs_per_sample.copy()
        rng_state = random_state.randint(INT32_MIN, INT32_MAX, 3).astype(np.int64)
        if per_sample:  # umap >= 0.5.7: one state per point, seeded by its start position
            rng_state = np.full((len(embedding), len(rng_state)), rng_state, dtype=np.int64) \
                + embedding[:, 0].astype(np.float64).view(np.int64).reshape(-1, 1)
        self.rng_state = rng_state
        self._unused = np.zeros(1, dtype=np.float32)  # densMAP's arrays, off
        self.epoch = 0

    def step(self) -> None:
        n = self.epoch
        self.kernel(
            self.embedding, self.embedding, self.head, self.tail, self.n_vertices, self.epochs_per_sample,
            self.a, self.b, self.rng_state, self.gamma, 2, True, self.alpha, self.epochs_per_negative_sample,
            self.epoch_of_next_negative_sample, self.epoch_of_next_sample, n,
            False, self._unused, self._unused, 0, 0, 0, 0, self._unused, self._unused, 0,
        )
        self.alpha = self.initial_alpha * (1.0 - float(n) / float(self.total))
        self.epoch += 1


# ---------------------------------------------------------------------------- the views


class UMAPPartialProjection(TSNEProjection):
    """A UMAP layout still being optimised: decoded, like a t-SNE layout, by nearest neighbours.

    Make one of each partial ``LayoutProgress.layout``; the final record brings its own
    ``UMAPProjection``.
    """

    kind = ViewKind.UMAP

    def __init__(self, layout: np.ndarray, latents: np.ndarray, *, epoch: int | None = None,
                 fraction: float = 0.0, k: int = 8):
        super().__init__(layout, latents, epoch=epoch, fraction=fraction, k=k)

    def describe(self) -> str:
        epoch = f" of epoch {self.epoch}" if self.epoch is not None else ""
        return f"UMAP{epoch} in progress: the layout still moves; decoding is approximate (nearest neighbours)."


class UMAPProjection:
    """A finished UMAP layout, with umap's transform and (approximate) inverse_transform.

    Parameters
    ----------
    model
        A fitted ``umap.UMAP`` whose ``embedding_`` is the layout (``umap_layout`` makes it).
    latents
        The (N, D) latents it laid out, in the same order.
    epoch
        The training epoch they come from, for the caption.
    """

    kind = ViewKind.UMAP
    exact = False
    fraction = 1.0
    partial = False

    def __init__(self, model, latents: np.ndarray, *, epoch: int | None = None):
        self.model = model
        self.latents = np.asarray(latents, dtype=np.float64)
        self.layout = _read_only(model.embedding_)
        self.epoch = epoch
        self._inverse = _CachedInverse(model)

    def transform(self, latents: np.ndarray, *, wait: bool = False) -> np.ndarray:
        """(N, D) -> (N, 2): the laid-out latents where they were laid out, others by umap's ``transform``.

        While another UMAP graph is being built on a worker (seconds), umap's transform would
        have to wait for it (see ``_PARALLEL``); unless ``wait``, other latents are then placed
        at the weighted mean of their nearest latents' layout points instead, as on t-SNE.
        """
        query = np.atleast_2d(np.asarray(latents, dtype=np.float64))
        if query.shape == self.latents.shape and np.array_equal(query, self.latents):
            return self.layout.copy()
        if not _PARALLEL.acquire(blocking=wait):
            return _neighbour_mean(query, self.latents, self.layout, 8)
        try:
            return np.asarray(self.model.transform(query), dtype=np.float64)
        finally:
            _PARALLEL.release()

    def inverse(self, points: np.ndarray) -> np.ndarray:
        """(N, 2) -> (N, D): umap's inverse_transform of each view position (approximate)."""
        return self._inverse(np.atleast_2d(np.asarray(points, dtype=np.float64)))

    def warm_up(self, cancel: threading.Event | None = None) -> None:
        """JIT-compile what ``inverse`` and ``transform`` run (seconds, once per process); call on a worker."""
        centre = self.layout.mean(axis=0, keepdims=True)
        self.inverse(centre)
        if cancel is not None and cancel.is_set():
            return
        # Off the laid-out latents, to take umap's path. One row and several compile apart:
        # numba types a slice of a one-row array as contiguous, of a larger one as not.
        off = self.latents[:2] + 1e-3 * self.latents.std(axis=0)
        self.transform(off[:1], wait=True)
        self.transform(off, wait=True)

    def describe(self) -> str:
        epoch = f" of epoch {self.epoch}" if self.epoch is not None else ""
        return f"UMAP{epoch}: decoding is approximate (umap's inverse_transform); run it again to update."


class _CachedInverse:
    """umap's ``UMAP.inverse_transform`` with its per-call set-up done once.

    umap triangulates ``embedding_`` (Delaunay), builds the triangles' adjacency in a Python
    loop and wraps its SGD kernel in a fresh ``numba.njit`` on every call: seconds each time.
    Here those are made in ``__init__`` and the rest follows umap step by step: a breadth-first
    walk of the adjacency from the query's triangle collects candidates; the ``min(D, N)``
    nearest in the layout start the latent at their membership-weighted mean; 100 epochs of
    umap's inverse SGD (30 above 10,000 queries; ``_inverse_sgd_kernel``) refine it against
    the raw data.

    One departure: a query outside the layout's convex hull starts its walk at the nearest
    layout point; umap takes the last triangle of the triangulation, anywhere in the view.
    """

    def __init__(self, model):
        import scipy.sparse
        import scipy.spatial
        from sklearn.utils import check_random_state

        self.model = model
        self.embedding = np.ascontiguousarray(model.embedding_, dtype=np.float32)
        n = len(self.embedding)
        self.tri = scipy.spatial.Delaunay(self.embedding, incremental=True, qhull_options="QJ")
        simplices = self.tri.simplices[(self.tri.simplices < n).all(axis=1)]
        rows = np.repeat(simplices, simplices.shape[1], axis=1).ravel()
        cols = np.tile(simplices, (1, simplices.shape[1])).ravel()
        adj = scipy.sparse.csr_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(n, n))
        adj.sum_duplicates()  # sorted columns, as umap's lil -> csr gives: the walk visits in the same order
        self.indptr, self.indices = adj.indptr, adj.indices
        self.tree = scipy.spatial.cKDTree(self.embedding)
        self.raw = np.ascontiguousarray(model._raw_data, dtype=np.float32)
        self.min_vertices = int(min(self.raw.shape[1], self.raw.shape[0]))
        self.a, self.b = float(model._a), float(model._b)
        self.sigmas = np.ascontiguousarray(model._sigmas, dtype=np.float32)
        self.rhos = np.ascontiguousarray(model._rhos, dtype=np.float32)
        self.kernel = _inverse_sgd_kernel()  # euclidean, as umap_layout fits
        self._check_random_state = check_random_state

    def _walk(self, start: int) -> np.ndarray:
        """umap's ``breadth_first_search``: whole levels of the adjacency until more than
        ``min_vertices`` points are explored."""
        explored, queue, levels = [], [start], {start: 0}
        max_level = np.inf
        head = 0
        while head < len(queue):
            node = queue[head]
            head += 1
            explored.append(node)
            if max_level == np.inf and len(explored) > self.min_vertices:
                max_level = max(levels.values())
            if levels[node] + 1 < max_level:
                for neighbour in self.indices[self.indptr[node] : self.indptr[node + 1]].tolist():
                    if neighbour not in levels:
                        queue.append(neighbour)
                        levels[neighbour] = levels[node] + 1
        return np.array(explored)

    def __call__(self, points: np.ndarray) -> np.ndarray:
        from umap.umap_ import INT32_MAX, INT32_MIN, make_epochs_per_sample

        query = np.ascontiguousarray(points, dtype=np.float32)
        q, k = len(query), self.min_vertices
        simplex = self.tri.find_simplex(query)
        starts = np.where(simplex >= 0, self.tri.simplices[np.maximum(simplex, 0), 0], self.tree.query(query)[1])
        tail = np.empty((q, k), dtype=np.int64)
        dists = np.empty((q, k), dtype=np.float64)
        for i, start in enumerate(starts.tolist()):
            hood = self._walk(start)
            d = np.sqrt(((self.embedding[hood].astype(np.float64) - query[i]) ** 2).sum(axis=1))
            nearest = np.argsort(d)[:k]
            tail[i], dists[i] = hood[nearest], d[nearest]
        weight = 1.0 / (1.0 + self.a * dists ** (2.0 * self.b))  # umap's membership strength
        # The start: the weighted mean of the neighbours' raw data (umap's init_transform).
        z = np.einsum("qk,qkd->qd", weight / weight.sum(axis=1, keepdims=True), self.raw[tail]).astype(np.float32)
        n_epochs = 100 if q <= 10000 else 30  # umap's, for a model without n_epochs
        # The edges in umap's order: query by query, each one's neighbours nearest first.
        head = np.repeat(np.arange(q, dtype=np.int32), k)
        weight = weight.ravel()
        rng_state = self._check_random_state(self.model.transform_seed).randint(INT32_MIN, INT32_MAX, 3)
        rng_state = rng_state.astype(np.int64)  # umap's: the same seed every call, as its inverse_transform
        self.kernel(z, self.raw, head, tail.ravel().astype(np.int32), weight, self.sigmas, self.rhos,
                    make_epochs_per_sample(weight, n_epochs), n_epochs, float(self.model._initial_alpha / 4.0),
                    float(self.model.negative_sample_rate), float(self.model.repulsion_strength), rng_state)
        return z.astype(np.float64)
