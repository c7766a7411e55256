"""Roadmaps over a horizon of periods (issue 23): ``planner roadmap``. The formulation is
``formulations/periods.py``; here: the horizon from dates, the solves, the re-check, the plan."""
