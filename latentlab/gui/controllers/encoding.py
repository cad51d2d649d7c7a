"""Your own images in: File -> Encode image…, files dropped on the window, and the drawing pad.

Each image is prepared as the run's dataset items were (``core.user_images``) by the scoring
controller, which reads, encodes and scores it off the GUI thread. A file that cannot be
read is one sentence in one dialog, and the others still go in.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QMimeData, QObject
from PySide6.QtWidgets import QFileDialog, QWidget

from latentlab.core.errors import LatentlabError
from latentlab.core.user_images import ImageSpec, frame_drawing

from ..explorer import Explorer
from .scoring import ScoringController

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.gif *.tif *.tiff *.webp *.pgm *.ppm);;All files (*)"
MAX_FILES = 64  # at once; a dropped folder of thousands is a dataset, not "your images"


class EncodeActions(QObject):
    def __init__(self, window: QWidget, explorer: Explorer, scoring: ScoringController,
                 last_folder: Callable[[], str], remember_folder: Callable[[str], None],
                 show_error: Callable[[str], None]):
        super().__init__(window)
        self.window, self.explorer, self.scoring = window, explorer, scoring
        self._last_folder, self._remember_folder = last_folder, remember_folder
        self.show_error = show_error
        self.pad = None  # the drawing pad, while open
        self._drawings = 0

    def spec(self) -> ImageSpec | None:
        contents = self.explorer.contents
        if contents is None or self.explorer.snapshot is None:
            return None
        data = contents.config["data"]
        return ImageSpec.for_run(contents.image_shape, data["name"], data.get("binarize"))

    def _ready(self) -> ImageSpec | None:
        spec = self.spec()
        if spec is None:
            self.show_error("There is no model to encode with yet; train a run or open one, "
                            "and wait for its first epoch.")
        return spec

    # -- files -------------------------------------------------------------------------------
    def ask_and_encode(self) -> None:
        if self._ready() is None:
            return
        paths, _ = QFileDialog.getOpenFileNames(self.window, "Encode images", self._last_folder(), IMAGE_FILTER)
        if paths:
            self._remember_folder(paths[0])
            self.encode_files(paths)

    def encode_files(self, paths) -> int:
        """Encode these image files; returns how many are on their way. They are read on the scoring
        worker (a large photo takes a while), and the unreadable ones are one dialog."""
        spec = self._ready()
        if spec is None:
            return 0
        paths = [Path(p) for p in paths]
        if not paths:
            return 0
        self.scoring.read_and_encode(spec, paths[:MAX_FILES], skipped=max(0, len(paths) - MAX_FILES))
        return min(len(paths), MAX_FILES)

    # -- drops ---------------------------------------------------------------------------------
    @staticmethod
    def dropped_files(mime: QMimeData) -> list[str]:
        """The local files among what is dragged over the window (folders and web links are not images)."""
        if not mime.hasUrls():
            return []
        # os.path.isfile: Path.is_file raises on a name too long or a folder it may not enter.
        return [url.toLocalFile() for url in mime.urls() if url.isLocalFile() and os.path.isfile(url.toLocalFile())]

    # -- the drawing pad -------------------------------------------------------------------------
    def draw(self) -> None:
        spec = self._ready()
        if spec is None:
            return
        if not spec.grey:
            self.show_error("Drawing is for grey datasets such as digits and MNIST; "
                            "encode an image file for this run instead.")
            return
        from ..widgets.drawing_pad import DrawingPad

        if self.pad is None:
            self.pad = DrawingPad(self.window)
            self.pad.drawn.connect(self.encode_drawing)
            self.pad.finished.connect(self._pad_closed)
        self.pad.open()

    def _pad_closed(self, _result: int) -> None:
        self.pad.deleteLater()
        self.pad = None

    def encode_drawing(self, ink) -> bool:
        spec = self._ready()
        if spec is None:
            return False
        try:
            image = frame_drawing(ink, spec)
        except LatentlabError as exc:
            self.show_error(str(exc))
            return False
        self._drawings += 1
        self.scoring.encode(f"drawing {self._drawings}", image)
        return True
