"""HiGHS's model status maps onto Status by an explicit table, never by its text."""

import highspy

from planner.solve.highs import LP_STATUS, mip_status
from planner.solve.result import SOLVED_VALUES, Status

HMS = highspy.HighsModelStatus
EVERY = [getattr(HMS, name) for name in dir(HMS) if name.startswith("k")]


def test_lp_statuses():
    assert LP_STATUS[HMS.kOptimal] is Status.OPTIMAL
    assert LP_STATUS[HMS.kInfeasible] is Status.INFEASIBLE
    assert LP_STATUS[HMS.kUnboundedOrInfeasible] is Status.INFEASIBLE
    assert LP_STATUS[HMS.kTimeLimit] is Status.NO_SOLUTION
    others = [s for s in EVERY if s not in LP_STATUS]
    assert HMS.kSolveError in others and HMS.kUnknown in others  # -> ERROR
    assert len(EVERY) == len(others) + 4


def test_mip_statuses():
    assert mip_status(HMS.kOptimal, True) is Status.OPTIMAL
    assert mip_status(HMS.kInfeasible, False) is Status.INFEASIBLE
    for limit in (HMS.kTimeLimit, HMS.kInterrupt, HMS.kHighsInterrupt):
        assert mip_status(limit, True) is Status.TIME_LIMIT
        assert mip_status(limit, False) is Status.NO_SOLUTION
    assert mip_status(HMS.kSolveError, False) is Status.ERROR
    assert mip_status(HMS.kSolveError, True) is Status.TIME_LIMIT  # an incumbent, with its gap


def test_sweep_statuses_are_the_enum():
    assert SOLVED_VALUES == ("optimal", "time_limit")
    assert Status("failed") is Status.FAILED and Status("missing") is Status.MISSING
