"""Quality measured on shared benchmarks, side by side with baselines."""
