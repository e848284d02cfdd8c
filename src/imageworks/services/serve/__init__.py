"""Serve: server command lines, launching, endpoints, roles, probes and LiteLLM/llama-swap exports."""
