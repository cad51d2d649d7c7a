"""Latent traversals: the latents of a grid that sweeps one direction at a time through z.

Each row holds every coordinate of ``z`` but one direction, which runs over ``values``
(prior standard deviations: the prior is N(0, I), so -3..+3 spans where nearly all of
its mass lies). Rows are the latent dimensions, most informative first, and optionally
the axes of a PCA view. NumPy only: the GUI decodes the rows in one batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ACTIVE_NATS = 0.01  # mean KL of a dimension below this: it carries no information (posterior collapse)
DEFAULT_RANGE = 3.0
DEFAULT_COLUMNS = 11


@dataclass(frozen=True)
class TraversalRow:
    label: str  # "z7  (KL 3.21)", "PCA axis 1"
    direction: np.ndarray  # (D,) unit vector swept along
    active: bool  # False: the model does not use this direction (its traversal decodes alike)
    dim: int | None = None  # the latent dimension, for a dimension's row


@dataclass(frozen=True)
class Traversal:
    rows: tuple[TraversalRow, ...]
    values: np.ndarray  # (C,) the swept coordinate, prior standard deviations
    latents: np.ndarray  # (R * C, D), row-major: row r, column c at r * C + c

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.rows), len(self.values)

    def latent(self, row: int, column: int) -> np.ndarray:
        return self.latents[row * len(self.values) + column]


def dimension_rows(kl_per_dim: np.ndarray, *, include_inactive: bool = True) -> list[TraversalRow]:
    """One row per latent dimension, by KL, largest first; dimensions under ``ACTIVE_NATS`` last."""
    kl = np.asarray(kl_per_dim, dtype=np.float64)
    order = np.argsort(-kl, kind="stable")
    rows = []
    for d in order:
        active = bool(kl[d] >= ACTIVE_NATS)
        if active or include_inactive:
            direction = np.zeros(len(kl))
            direction[d] = 1.0
            rows.append(TraversalRow(f"z{d}  (KL {kl[d]:.2f})", direction, active, int(d)))
    return rows


def axis_rows(components: np.ndarray, name: str = "PCA axis") -> list[TraversalRow]:
    """Rows along a view's axes (a PCA's (2, D) orthonormal components)."""
    return [TraversalRow(f"{name} {i + 1}", np.asarray(c, dtype=np.float64) / np.linalg.norm(c), True)
            for i, c in enumerate(np.atleast_2d(components))]


def traverse(z: np.ndarray, rows: list[TraversalRow] | tuple[TraversalRow, ...], *,
             span: float = DEFAULT_RANGE, columns: int = DEFAULT_COLUMNS) -> Traversal:
    """The grid's latents: in row r, z with its coordinate along r's direction set to each value.

    For a dimension that sets z[d] to the value; for any unit direction u it is
    z + (value - u.z) u, which moves z along u only.
    """
    z = np.asarray(z, dtype=np.float64).reshape(-1)
    values = np.linspace(-float(span), float(span), int(columns))
    if not rows:
        return Traversal((), values, np.zeros((0, len(z))))
    directions = np.stack([r.direction for r in rows])  # (R, D)
    along = directions @ z  # (R,) where z sits on each direction now
    latents = z[None, None, :] + (values[None, :, None] - along[:, None, None]) * directions[:, None, :]
    return Traversal(tuple(rows), values, latents.reshape(-1, len(z)))
