"""Passive views: NumPy arrays in, Qt signals out. Nothing here imports torch."""
