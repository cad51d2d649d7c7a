"""Directions and paths in latent space: where to walk from the marker, and how to go from A to B.

A *direction* is the difference of two centroids of test items' posterior means: of a
selection B minus a selection A, or of one selection (a class, say) minus where the marker
is. Walking along it from the marker shows what the model changes between the two groups.

A *path* from A to B is a straight line (``lerp``) or the great-circle arc of Tom White's
"Sampling Generative Networks" (``slerp``). Under an N(0, I) prior nearly all mass in D
dimensions lies near the sphere of radius sqrt(D), and the midpoint of a straight line
between two typical latents falls well inside it, where the decoder has seen little; the
arc keeps the norm of equal-norm endpoints. NumPy only: the GUI decodes the latents.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

PathKind = Literal["linear", "spherical"]
PATH_KINDS: tuple[PathKind, ...] = ("linear", "spherical")
PARALLEL_RADIANS = 1e-6  # endpoints closer in angle than this: the arc is the line
TINY_NORM = 1e-12  # an endpoint this near the origin has no direction: the arc is the line


def lerp(a: np.ndarray, b: np.ndarray, t: float | np.ndarray) -> np.ndarray:
    """(1 - t) a + t b; ``t`` a scalar or (N,) array gives (D,) or (N, D)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)[..., None]
    return (1.0 - t) * a + t * b


def slerp(a: np.ndarray, b: np.ndarray, t: float | np.ndarray) -> np.ndarray:
    """sin((1 - t) Ω) / sin Ω · a + sin(t Ω) / sin Ω · b, Ω the angle between a and b.

    Where the angle is undefined or the arc degenerate (an endpoint at the origin, a and b
    parallel or opposite) there is no one great circle: it falls back to ``lerp``.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na < TINY_NORM or nb < TINY_NORM:
        return lerp(a, b, t)
    omega = float(np.arccos(np.clip(a @ b / (na * nb), -1.0, 1.0)))
    if omega < PARALLEL_RADIANS or np.pi - omega < PARALLEL_RADIANS:
        return lerp(a, b, t)
    t = np.asarray(t, dtype=np.float64)[..., None]
    s = np.sin(omega)
    return np.sin((1.0 - t) * omega) / s * a + np.sin(t * omega) / s * b


def interpolate(a: np.ndarray, b: np.ndarray, steps: int, kind: PathKind = "linear") -> np.ndarray:
    """``steps`` latents (steps, D) from a to b, both included, along the ``kind`` of path."""
    if kind not in PATH_KINDS:
        raise ValueError(f"unknown path kind {kind!r}; expected one of {PATH_KINDS}")
    if steps < 2:
        raise ValueError(f"a path from a to b needs at least 2 steps, not {steps}")
    t = np.linspace(0.0, 1.0, int(steps))
    path = (slerp if kind == "spherical" else lerp)(a, b, t)
    path[0], path[-1] = a, b  # exactly the endpoints, whatever the rounding of the arc
    return path


@dataclass(frozen=True)
class Selection:
    """A set of test items, by index, and what to call it ("7", "42 points")."""

    indices: np.ndarray  # (K,) int, sorted, unique
    name: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "indices", np.unique(np.asarray(self.indices, dtype=np.int64)))


@dataclass(frozen=True)
class Direction:
    """A direction to walk along from ``origin``: ``at(t)`` is t prior σ along its unit vector."""

    label: str  # "3 → 8", "marker → 7"
    vector: np.ndarray  # (D,) the centroid difference itself, not normalised
    origin: np.ndarray  # (D,) where t = 0 is

    @property
    def length(self) -> float:
        return float(np.linalg.norm(self.vector))

    @property
    def unit(self) -> np.ndarray:
        return self.vector / self.length

    def at(self, t: float) -> np.ndarray:
        return self.origin + float(t) * self.unit


def centroid(latents: np.ndarray, members: np.ndarray) -> np.ndarray:
    """The mean latent of the items ``members`` (indices or a boolean mask)."""
    chosen = np.asarray(latents, dtype=np.float64)[members]
    if len(chosen) == 0:
        raise ValueError("a centroid needs at least one item")
    return chosen.mean(axis=0)


def selection_direction(latents: np.ndarray, a_members: np.ndarray, b_members: np.ndarray) -> np.ndarray:
    """mean(B) - mean(A): from the centroid of the items A to that of the items B."""
    return centroid(latents, b_members) - centroid(latents, a_members)


def class_direction(latents: np.ndarray, labels: np.ndarray, c: int, marker: np.ndarray) -> np.ndarray:
    """centroid(class c) - marker: from the marker's latent to the mean latent of class ``c``."""
    return centroid(latents, np.asarray(labels) == c) - np.asarray(marker, dtype=np.float64)


def direction_from(latents: np.ndarray, a: Selection | None, b: Selection | None,
                   origin: np.ndarray) -> Direction | None:
    """The direction the selections define, walked from ``origin`` (the marker's latent).

    Both sets: mean(B) - mean(A). One set: its centroid - origin, so a class clicked alone
    leads from the marker to that class. None when there is nothing to go by or the two
    centroids coincide (no way to point).
    """
    origin = np.asarray(origin, dtype=np.float64)
    if a is not None and b is not None:
        vector, label = selection_direction(latents, a.indices, b.indices), f"{a.name} → {b.name}"
    elif a is not None or b is not None:
        target = a if b is None else b
        vector, label = centroid(latents, target.indices) - origin, f"marker → {target.name}"
    else:
        return None
    if not np.all(np.isfinite(vector)) or np.linalg.norm(vector) < TINY_NORM:
        return None
    return Direction(label, vector, origin)
