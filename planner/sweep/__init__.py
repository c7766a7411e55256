"""Sensitivity sweeps: a spec expands into points; each point is a full solve, persisted at once."""
