"""Discrete-event simulation of served plans (simpy; imported only by ``planner simulate`` and
the queueing benchmark, never on the solve path)."""
