"""Hearken: consented fragments of community conversations."""
