"""Tests: naming."""
