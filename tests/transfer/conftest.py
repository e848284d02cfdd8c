"""Expose the loopback Hub fixtures to the transfer tests."""

from tests.support.fixtures import hf_client_env, hub_server, tiny_repo

__all__ = ["hf_client_env", "hub_server", "tiny_repo"]
