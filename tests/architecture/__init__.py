"""Tests of the architecture: layering, import cycles, the kernel budget."""
