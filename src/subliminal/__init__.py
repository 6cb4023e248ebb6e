"""Subliminal learning: the science behind the workflow (importable without Snakemake)."""

__version__ = "0.1.0"
