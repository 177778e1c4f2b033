"""vislab: a research workflow for image deep learning."""

__version__ = "0.1.0"
