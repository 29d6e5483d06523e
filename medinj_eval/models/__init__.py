"""lm-eval model backends registered by medinj-eval."""
