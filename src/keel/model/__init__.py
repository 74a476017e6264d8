"""Model evaluation: metrics, baselines, slices and fairness."""
