"""The VAE engine: data, model, losses, training, evaluation, projections, checkpoints.

Runs headless: nothing in this package imports Qt.
"""
