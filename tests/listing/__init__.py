"""Tests: listing."""
