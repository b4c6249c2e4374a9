"""schedcast: learn and measure what a concurrent Go program does next."""

__version__ = "0.4.0"
