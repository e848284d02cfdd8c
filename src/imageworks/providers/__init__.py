"""Built-in model sources: Hugging Face, Ollama and local stores."""
