"""Test helpers shared across test packages: a loopback Hugging Face Hub and its fixtures."""
