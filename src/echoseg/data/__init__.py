"""Data layer: one sample schema, readers per source, the synthetic generator, caches and transforms."""

from echoseg.data.schema import CaseRecord, EchoSample

__all__ = ["CaseRecord", "EchoSample"]
