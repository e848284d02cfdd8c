"""One copy, every app: expose a registry variant to Ollama, LM Studio and the Hugging Face
cache without new bytes (``share``), and fold duplicate weight files across the stores
(``dedupe``), with a journal that undoes a fold. See docs/sharing.md.
"""
