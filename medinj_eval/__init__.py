"""medinj-eval: evaluation harness for French biomedical language models."""

__version__ = "0.1.0"
