"""Readers for weight-file headers (GGUF, safetensors) that detectors and providers share."""
