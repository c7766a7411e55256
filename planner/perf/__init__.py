"""Physical performance and power model of a deployment, calibrated on published benchmarks."""
