"""Statistics over lm-eval runs: paired tests, corrections, rankings and position bias."""
