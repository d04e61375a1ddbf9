"""Provenance: evidence that a suspect model learnt from our (watermarked, canaried) outputs."""
