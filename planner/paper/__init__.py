"""Per-query energy: the paper's throughput regression and Monte Carlo estimator."""
