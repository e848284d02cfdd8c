"""Memory: the GPU memory estimate (weights, KV cache, largest context) and local header facts."""
