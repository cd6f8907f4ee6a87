"""genaug: measure which generative model's synthetic images improve a classifier trained on scarce data."""

__version__ = "0.1.0"
