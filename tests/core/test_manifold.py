"""The manifold's tiles: where their centres are, which tile holds a point, and what they decode."""

from __future__ import annotations

import numpy as np
import pytest

from latentlab.core.errors import ConfigError
from latentlab.core.manifold import DEFAULT_TILES, decode_tiles, tile_grid
from latentlab.core.projection import PCAProjection


def test_centres_are_row_major_from_the_top_left_with_the_top_row_at_the_largest_y():
    grid = tile_grid((-2.0, 4.0), (1.0, 4.0), n=3)  # tiles 2 wide, 1 high
    centres = grid.centres
    assert centres.shape == (9, 2)
    np.testing.assert_allclose(centres[0], [-1.0, 3.5])  # tile (0, 0): left, top
    np.testing.assert_allclose(centres[2], [3.0, 3.5])  # the end of the top row
    np.testing.assert_allclose(centres[3], [-1.0, 2.5])  # row 1 is lower down
    np.testing.assert_allclose(centres[8], [3.0, 1.5])  # bottom right
    assert grid.tile_size == (2.0, 1.0)


def test_the_tiles_cover_the_rectangle_exactly_and_each_point_lies_in_one_tile():
    grid = tile_grid((0.5, 1.7), (-3.0, -1.0))
    assert grid.n == DEFAULT_TILES
    w, h = grid.tile_size
    centres = grid.centres
    assert np.isclose(centres[:, 0].min() - w / 2, 0.5) and np.isclose(centres[:, 0].max() + w / 2, 1.7)
    assert np.isclose(centres[:, 1].min() - h / 2, -3.0) and np.isclose(centres[:, 1].max() + h / 2, -1.0)
    assert [grid.tile_at(x, y) for x, y in centres] == list(range(grid.n**2))
    assert grid.tile_at(0.5, -1.0) == 0  # the top-left corner
    assert grid.tile_at(1.7, -3.0) == grid.n**2 - 1  # the far corner belongs to the last tile
    assert grid.tile_at(0.4, -2.0) is None and grid.tile_at(1.0, -0.9) is None


def test_one_tile_is_centred_on_the_rectangle():
    np.testing.assert_allclose(tile_grid((0, 2), (0, 6), n=1).centres, [[1.0, 3.0]])


@pytest.mark.parametrize("x_range, y_range, n", [((0, 1), (0, 1), 0), ((1, 1), (0, 1), 4), ((0, 1), (2, 0), 4),
                                                  ((0, np.nan), (0, 1), 4)])
def test_an_empty_rectangle_or_no_tiles_is_refused_in_one_sentence(x_range, y_range, n, one_sentence):
    with pytest.raises(ConfigError) as error:
        tile_grid(x_range, y_range, n)
    one_sentence(str(error.value))


def test_the_tiles_decode_the_views_inverse_at_their_centres():
    rng = np.random.default_rng(3)
    latents = rng.normal(size=(200, 6)) * np.array([3, 2, 0.5, 0.2, 0.1, 0.1])
    pca = PCAProjection(latents)
    grid = tile_grid((-3, 3), (-2, 2), n=4)
    seen = []

    def decode(z):
        seen.append(z)
        return np.tanh(z[:, :4]).reshape(-1, 1, 2, 2)

    tile_latents, images = decode_tiles(grid, pca.inverse, decode)
    np.testing.assert_allclose(tile_latents, pca.inverse(grid.centres))
    np.testing.assert_allclose(pca.transform(tile_latents), grid.centres, atol=1e-12)  # on the plane, at the centre
    assert len(seen) == 1 and seen[0] is tile_latents  # one batch
    assert images.shape == (16, 1, 2, 2)
