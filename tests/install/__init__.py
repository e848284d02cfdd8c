"""Tests: what a user installs."""
