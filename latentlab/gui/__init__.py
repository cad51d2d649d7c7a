"""The desktop explorer: PySide6 + pyqtgraph over the core engine."""
