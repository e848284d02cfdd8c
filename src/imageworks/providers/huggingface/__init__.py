"""The Hugging Face source: repository metadata, file selection and transfers."""
