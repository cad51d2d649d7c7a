"""latentlab: watch a Variational AutoEncoder learn, and touch its latent space."""

__version__ = "0.1.0"
