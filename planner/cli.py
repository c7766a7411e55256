"""The ``planner`` command: parses arguments, calls the library, formats. Nothing else.

Exit codes (the table is in :mod:`planner.errors` and the README): 0 success (a time-limited
MILP with an incumbent also exits 0, flagged ``status: time_limit`` with its gap); 1 an internal
error (a bug or a numerical failure of the solver, with a hint to report it); 2 bad input (a
one-line error naming the file, the field and the value); 3 infeasible (which class or site,
which constraint, the closest achievable value); 4 no solution within the solver's time limit.
``--debug`` adds the traceback on stderr and keeps the exit code.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback

import click

from planner import __version__
from planner.errors import EXIT_INPUT, EXIT_INTERNAL, REPORT_HINT, PlannerError, one_line

EXIT_INPUT_ERROR = EXIT_INPUT
DEFAULT_MAX_POINTS = 10_000


class PlannerGroup(click.Group):
    """Every failure is one line on stderr and its exit code (``planner.errors``); with
    ``--debug`` the traceback comes first, the exit code is the same."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except PlannerError as exc:
            self._traceback(ctx)
            click.echo(f"error: {exc}", err=True)
            ctx.exit(getattr(exc, "exit_code", EXIT_INPUT_ERROR))
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)
        except RecursionError:
            self._traceback(ctx)
            click.echo("error: input nested too deeply", err=True)
            ctx.exit(EXIT_INPUT_ERROR)
        except Exception as exc:  # a bug: say so, and how to report it
            self._traceback(ctx)
            click.echo(f"internal error: {type(exc).__name__}: {one_line(str(exc), 300)} "
                       f"({REPORT_HINT})", err=True)
            ctx.exit(EXIT_INTERNAL)

    @staticmethod
    def _traceback(ctx: click.Context) -> None:
        if (ctx.obj or {}).get("debug"):
            click.echo(traceback.format_exc(), err=True, nl=False)


@click.group(cls=PlannerGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="planner")
@click.option("-v", "--verbose", count=True, help="More log output on stderr (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors on stderr.")
@click.option("--debug", is_flag=True,
              help="Also show the traceback of an error (the exit code stays the same).")
@click.pass_context
def cli(ctx: click.Context, verbose: int, quiet: bool, debug: bool) -> None:
    """Energy-efficiency planner for LLM inference fleets."""
    level = logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    logging.basicConfig(level=level, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s", force=True)
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


@cli.command()
@click.argument("instance", type=click.Path(dir_okay=False, path_type=str))
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="Readable table or JSON on stdout.")
@click.option("--show-fit", is_flag=True, help="Print the throughput regression and its error.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), default=None,
              help="Write the distributions and lever scenarios to this PNG.")
@click.option("--samples", type=click.IntRange(min=1), default=None,
              help="Override samples_per_model.")
@click.option("--seed", type=click.IntRange(min=0), default=None,
              help="Override the instance's seed.")
@click.option("--input-sensitivity", is_flag=True,
              help="Count input tokens in energy: L_eff = L_out + L_in/30 (the paper's "
                   "sensitivity analysis).")
@click.option("--input-tokens", type=click.FloatRange(min=1), default=None,
              help="Override the fixed input length L_in.")
def estimate(instance: str, fmt: str, show_fit: bool, plot_path: str | None, samples: int | None,
             seed: int | None, input_sensitivity: bool, input_tokens: float | None) -> None:
    """Per-query and fleet energy by the method of Oviedo et al. (arXiv:2509.20241)."""
    from planner.energy.estimator import load_estimate_instance, run_estimate
    from planner.report.estimate import estimate_text, fit_text, plot_estimate
    from planner.validation import check_writable_file

    if plot_path:
        check_writable_file(plot_path, "--plot")

    spec, table = load_estimate_instance(instance)
    overrides = {}
    if samples is not None:
        overrides["samples_per_model"] = samples
    if seed is not None:
        overrides["seed"] = seed
    if input_sensitivity:
        overrides["input_token_weight"] = 1.0 / 30.0
    if input_tokens is not None:
        overrides["input_tokens"] = input_tokens
    if overrides:
        spec = spec.model_copy(update=overrides)
    result = run_estimate(spec, table)
    if fmt == "json":
        summary = result.summary()
        if show_fit:
            from planner.energy.throughput_fit import fit_table
            summary["throughput_fit"] = fit_table(result.fits).to_dict(orient="records")
        click.echo(json.dumps(summary, indent=2))
    else:
        if show_fit:
            click.echo(fit_text(result))
            click.echo()
        click.echo(estimate_text(result))
    if plot_path:
        plot_estimate(result, plot_path)
        logging.getLogger(__name__).info("wrote %s", plot_path)


@cli.command()
@click.option("--out", "out_path", type=click.Path(dir_okay=False), default=None,
              help="Calibration file to write (load it with --calibration). Without it nothing "
                   "is written: the installed package's calibration.json is never changed.")
@click.option("--rows-csv", type=click.Path(dir_okay=False), default=None,
              help="Also write measured vs predicted for every benchmark row to this CSV.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
def calibrate(out_path: str | None, rows_csv: str | None, fmt: str) -> None:
    """Fit the performance model's efficiency factors on the shipped TensorRT-LLM tables."""
    from planner.perf.calibrate import (calibrate as fit, energy_check, error_tables,
                                        online_check, speculative_check, ttft_check)
    from planner.report.calibration import calibration_text, write_error_rows
    from planner.report.io import write_json_atomic
    from planner.validation import check_writable_file

    for path, option in ((out_path, "--out"), (rows_csv, "--rows-csv")):
        if path:
            check_writable_file(path, option)
    calibration, errors = fit()
    target = out_path
    if target:
        write_json_atomic(target, calibration.to_json())
    else:
        logging.getLogger(__name__).info("not written: pass --out FILE to save the calibration")
    tables = error_tables(errors)
    checks = {"ttft": ttft_check(calibration), "online": online_check(calibration),
              "energy": energy_check(calibration),
              "speculative": speculative_check(calibration)}
    if rows_csv:
        write_error_rows(errors, rows_csv)
    if fmt == "json":
        summary = calibration.to_json()
        summary["by_family"] = tables["by_family"].to_dict(orient="records")
        summary["by_length"] = tables["by_length"].to_dict(orient="records")
        summary["by_group"] = tables["by_group"].to_dict(orient="records")
        summary["energy_check"] = checks["energy"].to_dict(orient="records")
        summary["speculative_check"] = checks["speculative"].to_dict(orient="records")
        summary["written"] = str(target) if target else None
        click.echo(json.dumps(summary, indent=2, default=float))
    else:
        click.echo(calibration_text(calibration, tables, checks))
        click.echo(f"\nwrote {target}" if target else
                   "\nnot written (pass --out FILE to save it; use it with --calibration FILE)")


@cli.command()
@click.option("--cases", "cases_path", required=True, type=click.Path(dir_okay=False),
              help="CSV with model, hardware, precision, num_gpus, isl, osl[, concurrency].")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv",
              show_default=True)
@click.option("--calibration", "calibration_path", type=click.Path(dir_okay=False), default=None,
              help="Calibration file [default: the shipped one].")
def throughput(cases_path: str, fmt: str, calibration_path: str | None) -> None:
    """Throughput, latency, power and Wh/query for each case of a CSV (offline max-throughput
    regime unless a concurrency is given)."""
    from planner.perf.factors import load_calibration
    from planner.perf.model import predict
    from planner.validation import read_cases_csv

    cases = read_cases_csv(cases_path)
    result = predict(cases, calibration=load_calibration(calibration_path), file=cases_path)
    columns = list(cases.columns) + [
        "out_tok_s_total", "ttft_ms", "tpot_ms", "node_power_kw", "wh_per_query", "fits",
        "reason", "batch", "replica_power_kw", "gpu_power_w", "bound", "uncertainty_pct",
        "calibrated"]
    result = result[columns]
    if fmt == "json":
        click.echo(result.to_json(orient="records", indent=2))
    else:
        click.echo(result.to_csv(index=False), nl=False)


@cli.command(name="solve")
@click.argument("instance", type=click.Path(dir_okay=False, path_type=str))
@click.option("--formulation", type=click.Choice(["lp", "milp"]), default="lp", show_default=True)
@click.option("--scenario", default=None, help="Apply a named scenario of the instance.")
@click.option("--set", "sets", multiple=True, metavar="PATH=VALUE",
              help="Override a field, e.g. --set sites[0].power_cap_mw=30 (repeatable).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Write the tables (CSV and Parquet) and summary.json here.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
@click.option("--time-limit", type=click.FloatRange(min=0.1), default=None,
              help="Override the solver time limit (s).")
def solve_command(instance: str, formulation: str, scenario: str | None, sets: tuple[str, ...],
                  out_dir: str | None, fmt: str, time_limit: float | None) -> None:
    """Choose models, precisions, batching and hardware for every query class, minimizing
    fleet GWh/day under SLOs, quality floors, inventory and power caps."""
    from planner.instance import load_planning_instance
    from planner.optimize import optimize
    from planner.report.plan import plan_text, write_plan

    from planner.validation import check_writable_dir

    if time_limit is not None:
        sets = (*sets, f"solver.time_limit_s={time_limit}")
    spec, digest = load_planning_instance(instance, scenario=scenario, sets=sets)
    if out_dir:
        check_writable_dir(out_dir)  # before the solve, not after it
    plan = optimize(spec, digest, formulation)
    if out_dir:
        write_plan(plan, out_dir)
    if plan.summary["status"] == "time_limit":
        click.echo(f"warning: time limit reached; incumbent with MIP gap "
                   f"{plan.summary['mip_gap']:.4g}", err=True)
    if fmt == "json":
        click.echo(json.dumps(plan.summary, indent=2, default=float))
    else:
        click.echo(plan_text(plan))


class Progress:
    """A progress bar with ETA on stderr (silent under --quiet); the total is set once known."""

    def __init__(self, label: str):
        show = logging.getLogger().level <= logging.WARNING
        self.bar = click.progressbar(length=1, label=label, file=sys.stderr, show_eta=True,
                                     show_pos=True) if show else None

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.render_finish()

    def set_total(self, n: int) -> None:
        if self.bar is not None:
            self.bar.length = max(n, 1)

    def update(self, n: int) -> None:
        if self.bar is not None:
            self.bar.update(n)


@cli.command(name="levers")
@click.argument("instance", type=click.Path(dir_okay=False, path_type=str))
@click.option("--scenario", default=None, help="Apply a named scenario of the instance first.")
@click.option("--set", "sets", multiple=True, metavar="PATH=VALUE",
              help="Override a field before the levers are applied (repeatable).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Write levers/classes/subsets (CSV, Parquet), waterfall.png, summary.json.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
@click.pass_context
def levers_command(ctx: click.Context, instance: str, scenario: str | None,
                   sets: tuple[str, ...], out_dir: str | None, fmt: str) -> None:
    """Attribute the reduction from the paper's baseline to each lever group: every subset
    solved, each lever alone and left out, exact Shapley shares, per-class breakdown."""
    from planner.instance import load_planning_data
    from planner.levers import attribute_levers
    from planner.report.levers import levers_text, write_levers
    from planner.validation import check_writable_dir

    data = load_planning_data(instance, scenario=scenario, sets=sets)
    if out_dir:
        check_writable_dir(out_dir)
    with Progress("lever subsets") as bar:
        result = attribute_levers(data, instance, progress=bar.update, total=bar.set_total)
    if out_dir:
        write_levers(result, out_dir)
    if fmt == "json":
        click.echo(json.dumps(result.summary, indent=2, default=float))
    else:
        click.echo(levers_text(result))


@cli.command(name="sweep")
@click.argument("instance", type=click.Path(dir_okay=False, path_type=str))
@click.argument("spec", type=click.Path(dir_okay=False, path_type=str))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder for points/, sweep.parquet, sweep.csv, plots and summary.json.")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Worker processes (spawn, one solver thread each); Dask workers with "
                   "--scheduler local.")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Dask scheduler (tcp://host:8786), or 'local' for a LocalCluster.")
@click.option("--resume", is_flag=True, help="Continue a sweep in --out; finished points are kept.")
@click.option("--max-points", type=click.IntRange(min=1), default=DEFAULT_MAX_POINTS,
              show_default=True,
              help="Refuse a spec with more points than this (counted before anything runs).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
def sweep_command(instance: str, spec: str, out_dir: str, jobs: int, scheduler: str | None,
                  resume: bool, max_points: int, fmt: str) -> None:
    """Solve the instance at every point of a sweep spec (grids, scenarios, Monte Carlo); each
    finished point is persisted at once, so an interrupted sweep resumes where it stopped."""
    from planner.report.sweep import sweep_text, write_plots
    from planner.sweep.engine import run_sweep

    with Progress("sweep points") as bar:
        result = run_sweep(instance, spec, out_dir, jobs=jobs, scheduler=scheduler,
                           resume=resume, progress=bar.update, total=bar.set_total,
                           max_points=max_points)
    write_plots(result.table, out_dir, result.summary.get("tornado_context"))
    if fmt == "json":
        click.echo(json.dumps(result.summary, indent=2, default=float))
    else:
        click.echo(sweep_text(result.summary, result.table))
    if result.summary["failed"]:
        click.echo(f"{len(result.summary['failed'])} points failed; see summary.json "
                   f"(rerun with --resume to retry them)", err=True)


def main() -> None:
    """Console-script entry point."""
    cli(obj={})


if __name__ == "__main__":
    main()
