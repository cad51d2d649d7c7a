"""The drawing pad, used as a person uses it: drag the mouse to draw, Clear, Encode, Cancel."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QDialog

from latentlab.core.user_images import ImageSpec, frame_drawing
from latentlab.gui.widgets.drawing_pad import PEN_SHARE, SIDE, DrawingPad

MNIST = ImageSpec(1, 28, 28, 256, frame=20 / 28)
LEFT = Qt.MouseButton.LeftButton


@pytest.fixture
def pad(qtbot) -> DrawingPad:
    pad = DrawingPad()
    qtbot.addWidget(pad)
    pad.show()
    qtbot.waitExposed(pad)
    return pad


def drag(qtbot, widget, points: list[tuple[int, int]]) -> None:
    """Press the left button at the first point, move through the rest, release at the last."""
    qpoints = [QPoint(x, y) for x, y in points]
    qtbot.mouseMove(widget, qpoints[0])
    qtbot.mousePress(widget, LEFT, Qt.KeyboardModifier.NoModifier, qpoints[0])
    for p in qpoints[1:]:
        qtbot.mouseMove(widget, p)
    qtbot.mouseRelease(widget, LEFT, Qt.KeyboardModifier.NoModifier, qpoints[-1])


def inked_box(ink: np.ndarray, level: float = 0.5) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the pixels inked above ``level``, inclusive."""
    rows, cols = np.flatnonzero(ink.max(axis=1) > level), np.flatnonzero(ink.max(axis=0) > level)
    assert len(rows), "nothing is inked"
    return int(rows[0]), int(rows[-1]), int(cols[0]), int(cols[-1])


def test_the_pad_opens_blank_with_encode_disabled(pad):
    assert pad.windowTitle() == "Draw an image"
    assert [b.text() for b in (pad.clear_button, pad.encode_button, pad.cancel_button)] == ["Clear", "Encode", "Cancel"]
    assert pad.encode_button.isDefault() and not pad.encode_button.isEnabled()
    ink = pad.ink()
    assert ink.shape == (SIDE, SIDE) and ink.dtype == np.float64
    assert ink.max() == 0.0


def test_moving_the_mouse_without_a_button_draws_nothing(qtbot, pad):
    for x in range(40, 240, 20):
        qtbot.mouseMove(pad.canvas, QPoint(x, x))
    assert pad.ink().max() == 0.0
    assert not pad.encode_button.isEnabled()


def test_a_drag_draws_where_the_mouse_went_and_enables_encode(qtbot, pad):
    drag(qtbot, pad.canvas, [(60, 100), (100, 100), (140, 100), (180, 100), (220, 100)])
    ink = pad.ink()
    assert 0.0 <= ink.min() and ink.max() == pytest.approx(1.0)
    half_pen = PEN_SHARE * SIDE / 2
    top, bottom, left, right = inked_box(ink)
    assert abs(top - (100 - half_pen)) <= 2 and abs(bottom - (100 + half_pen)) <= 2, (top, bottom)
    assert abs(left - (60 - half_pen)) <= 2 and abs(right - (220 + half_pen)) <= 2, (left, right)  # round caps
    assert (ink[100, 60:221] > 0.99).all()  # the whole line, not only the points the mouse reported
    assert pad.encode_button.isEnabled()


def test_a_click_leaves_a_dot(qtbot, pad):
    qtbot.mouseClick(pad.canvas, LEFT, pos=QPoint(140, 140))
    top, bottom, left, right = inked_box(pad.ink())
    assert top <= 140 <= bottom and left <= 140 <= right
    assert bottom - top <= PEN_SHARE * SIDE + 2
    assert pad.encode_button.isEnabled()


def test_clear_empties_the_pad_and_disables_encode(qtbot, pad):
    drag(qtbot, pad.canvas, [(50, 50), (200, 200)])
    assert pad.ink().max() > 0 and pad.encode_button.isEnabled()
    qtbot.mouseClick(pad.clear_button, LEFT)
    assert pad.ink().max() == 0.0
    assert not pad.encode_button.isEnabled()
    drag(qtbot, pad.canvas, [(50, 200), (200, 50)])  # and the pad draws again after
    assert pad.encode_button.isEnabled()


def test_encode_emits_the_ink_and_accepts(qtbot, pad):
    drag(qtbot, pad.canvas, [(140, 40), (140, 120), (140, 240)])  # a "1"
    with qtbot.waitSignal(pad.drawn, timeout=2000) as blocker:
        qtbot.mouseClick(pad.encode_button, LEFT)
    (ink,) = blocker.args
    assert isinstance(ink, np.ndarray) and ink.shape == (SIDE, SIDE) and ink.dtype == np.float64
    top, bottom, left, right = inked_box(ink)
    assert 20 <= top <= 30 and 250 <= bottom <= 260 and 120 <= left and right <= 160
    assert (ink[:, :100] == 0).all() and (ink[:, 180:] == 0).all()
    assert pad.result() == QDialog.DialogCode.Accepted and not pad.isVisible()

    item = frame_drawing(ink, MNIST)  # as the app encodes it: framed like an MNIST digit
    assert item.shape == (1, 28, 28) and item.dtype == np.uint8 and item.max() > 200
    rows = np.flatnonzero(item[0].max(axis=1) > 0)
    assert 18 <= rows[-1] - rows[0] + 1 <= 20  # the tall stroke fills the 20-pixel frame


def test_enter_on_a_blank_pad_does_nothing_and_after_drawing_encodes(qtbot, pad):
    with qtbot.assertNotEmitted(pad.drawn):
        qtbot.keyClick(pad, Qt.Key.Key_Return)
    assert pad.isVisible()
    drag(qtbot, pad.canvas, [(80, 80), (200, 200)])
    with qtbot.waitSignal(pad.drawn, timeout=2000):
        qtbot.keyClick(pad, Qt.Key.Key_Return)
    assert pad.result() == QDialog.DialogCode.Accepted


def test_cancel_closes_without_emitting(qtbot, pad):
    drag(qtbot, pad.canvas, [(80, 80), (200, 200)])
    with qtbot.assertNotEmitted(pad.drawn):
        qtbot.mouseClick(pad.cancel_button, LEFT)
    assert pad.result() == QDialog.DialogCode.Rejected and not pad.isVisible()


def test_a_side_whose_rows_are_padded_converts_without_a_shear(qtbot):
    # 141 grey pixels a row are stored in 144 bytes: read by the width, the rows would shear.
    pad = DrawingPad(side=141)
    qtbot.addWidget(pad)
    assert pad.canvas.image.bytesPerLine() != 141
    pad.canvas.stroke([(70, 10), (70, 130)])  # a vertical line
    ink = pad.ink()
    assert ink.shape == (141, 141)
    assert (ink[10:131, 70] > 0.99).all()
    top, bottom, left, right = inked_box(ink)
    assert left >= 70 - 9 and right <= 70 + 9, (left, right)
    assert pad.encode_button.isEnabled()


def test_stroke_paints_what_the_same_drag_paints(qtbot, pad):
    points = [(60, 200), (120, 80), (220, 160)]
    drag(qtbot, pad.canvas, points)
    by_mouse = pad.ink()
    other = DrawingPad()
    qtbot.addWidget(other)
    other.canvas.stroke(points[:1])  # the press's dot, then the drag's segments
    for a, b in zip(points, points[1:]):
        other.canvas.stroke([a, b])
    np.testing.assert_array_equal(other.ink(), by_mouse)


def test_escape_closes_without_emitting(qtbot, pad):
    drag(qtbot, pad.canvas, [(80, 80), (200, 200)])
    with qtbot.assertNotEmitted(pad.drawn):
        qtbot.keyClick(pad, Qt.Key.Key_Escape)
    assert pad.result() == QDialog.DialogCode.Rejected and not pad.isVisible()
