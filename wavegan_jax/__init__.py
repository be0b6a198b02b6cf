"""wavegan_jax: conditional WaveGAN in JAX/Flax."""
__version__ = "0.1.0"
