"""zskip: the command line over golden_model, hw, sim and boards."""

__all__ = ["__version__"]

__version__ = "0.1.0"
