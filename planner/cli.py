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
import os
import sys
import traceback

import click

from planner import __version__
from planner.errors import (EXIT_INPUT, EXIT_INTERNAL, REPORT_HINT, InputError, PlannerError,
                            one_line)

EXIT_INPUT_ERROR = EXIT_INPUT
DEFAULT_MAX_POINTS = 10_000



def format_option(choices: tuple[str, ...] = ("table", "json")):
    """--format: text for people (the first choice) or machine output."""
    return click.option("--format", "fmt", type=click.Choice(list(choices)),
                        default=choices[0], show_default=True)


def instance_options(example: str):
    """INSTANCE, --scenario and --set: how every planning command reads its instance."""
    def decorate(command):
        command = click.option("--set", "sets", multiple=True, metavar="PATH=VALUE",
                               help=f"Override a field, {example} (repeatable).")(command)
        command = click.option("--scenario", default=None,
                               help="Apply a named scenario of the instance.")(command)
        return click.argument("instance",
                              type=click.Path(dir_okay=False, path_type=str))(command)
    return decorate


def emit(fmt: str, summary, text) -> None:
    """One output: the summary as JSON, or ``text()`` for people."""
    click.echo(json.dumps(summary, indent=2, default=float) if fmt == "json" else text())


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
        except BrokenPipeError:  # the reader left (`planner solve ... | head`): not an error
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # no second error when Python flushes stdout
            ctx.exit(141)
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
    from planner.config.overrides import NOTE  # overrides the user asked for: shown by default

    level = logging.ERROR if quiet else (NOTE, logging.INFO, logging.DEBUG)[min(verbose, 2)]
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
    from planner.paper.estimator import load_estimate_instance, run_estimate
    from planner.report.estimate import estimate_text, fit_text, plot_estimate
    from planner.config.validation import check_writable_file

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
            from planner.paper.throughput_fit import fit_table
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
@format_option()
@click.option("--no-holdout", is_flag=True,
              help="Skip the leave-one-family/model-out refits (faster; the stated uncertainty "
                   "is then the in-sample MAPE).")
def calibrate(out_path: str | None, rows_csv: str | None, fmt: str, no_holdout: bool) -> None:
    """Fit the performance model's efficiency factors on the shipped TensorRT-LLM tables."""
    from planner.perf.calibrate import (calibrate as fit, energy_check, error_tables,
                                        online_check, speculative_check, ttft_check)
    from planner.report.calibration import calibration_text, write_error_rows
    from planner.io import write_json_atomic
    from planner.config.validation import check_writable_file

    for path, option in ((out_path, "--out"), (rows_csv, "--rows-csv")):
        if path:
            check_writable_file(path, option)
    calibration, errors = fit(holdout=not no_holdout)
    target = out_path
    if target:
        from planner.perf.validate import write_heldout

        write_json_atomic(target, calibration.to_json())
        if not no_holdout:  # each row's held-out errors, for validate's held-out coverage
            write_heldout(errors, target)
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


LATENCY_ROW_COLUMNS = ["model_id", "hardware_id", "precision_id", "num_gpus", "parallelism",
                       "nominal_isl", "nominal_osl", "concurrency", "engine_id",
                       "measured_tpot_ms", "tpot_ms", "tpot_error_pct", "measured_ttft_ms",
                       "ttft_ms", "ttft_error_pct", "measured_tok_s", "predicted_throughput",
                       "throughput_at_concurrency_error_pct", "source"]


@cli.command()
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Write validation.csv (every row), summary.csv, coverage.csv, holdout.csv, "
                   "worst.csv and predicted_vs_measured.png here.")
@click.option("--calibration", "calibration_path", type=click.Path(dir_okay=False), default=None,
              help="Calibration file [default: the shipped one].")
@format_option()
def validate(out_dir: str | None, calibration_path: str | None, fmt: str) -> None:
    """Every shipped measured dataset against the model: throughput, GPU power and J/token
    errors per source, family, model kind and precision; held-out errors; coverage."""
    from pathlib import Path

    from planner.perf.factors import load_calibration
    from planner.perf.validate import plot_predicted_vs_measured, validation
    from planner.io import write_atomic

    tables = validation(load_calibration(calibration_path), calibration_path)
    if out_dir:
        for name, table in tables.items():
            target = Path(out_dir) / ("validation.csv" if name == "rows" else f"{name}.csv")
            if name == "latency_rows":
                table = table[[c for c in LATENCY_ROW_COLUMNS if c in table]]
            write_atomic(target, lambda tmp, t=table: t.to_csv(tmp, index=False))
        plot_predicted_vs_measured(tables["rows"], Path(out_dir) / "predicted_vs_measured.png")
    if fmt == "json":
        click.echo(json.dumps({k: v.to_dict(orient="records") for k, v in tables.items()
                               if k not in ("rows", "latency_rows", "amd_rows")}, indent=2, default=float))
        return
    fmt_table = lambda t: t.to_string(index=False, float_format=lambda v: f"{v:.3g}")  # noqa: E731
    summary, latency = tables["summary"], tables["latency"]
    wide = latency[latency["grouping"] != "all"].pivot_table(
        index="group", columns="metric", values="mape_pct")
    sections = [  # (title, table as text): the report in reading order
        ("Error per dataset and group (MAPE and median signed error, %)",
         fmt_table(summary[summary["grouping"].isin(["all", "family", "model_kind",
                                                     "precision_id"])])),
        ("Coverage of the stated uncertainty (fraction of rows with |error| inside it; held "
         "out: the row's error with its model, or its whole family, left out of the fit)",
         fmt_table(tables["coverage"])),
        ("Held-out errors recorded by the calibration", fmt_table(tables["holdout"])),
        ("Worst 10 rows (throughput)", fmt_table(tables["worst"])),
        ("Serving latency: InferenceMAX median TPOT, median TTFT and output tok/s at the "
         "measured concurrency (engines and versions as published); ML.ENERGY v3 median "
         "inter-token latency (MAPE and median signed error, %)",
         fmt_table(latency[latency["grouping"] == "all"])),
        ("MAPE per model x hardware x engine (%)",
         wide.to_string(float_format=lambda v: f"{v:.3g}")),
        ("Held-out serving-latency errors", fmt_table(tables["latency_heldout"])),
        ("AMD Instinct (CDNA3): MLPerf v4.1/v5.1 per scenario (Server/Interactive at the "
         "largest concurrency meeting the scenario's P99 TPOT and TTFT bounds) and InferenceMAX "
         "SGLang "
         "(MAPE and median signed error, %)", fmt_table(tables["amd"])),
        ("Leave one generation out (the previous generation's fit predicts the next)",
         fmt_table(tables["amd_logo"])),
    ]
    click.echo("\n\n".join(f"{title}\n{text}" for title, text in sections))
    skipped = tables["amd_skipped"]
    if len(skipped):
        click.echo(f"\nAMD MLPerf rows skipped ({len(skipped)}), by reason")
        click.echo(skipped.groupby("reason").size().rename("rows").reset_index()
                   .to_string(index=False))


@cli.command()
@click.option("--cases", "cases_path", required=True, type=click.Path(dir_okay=False),
              help="CSV with model, hardware, precision, num_gpus, isl, osl[, concurrency].")
@format_option(("csv", "json"))
@click.option("--calibration", "calibration_path", type=click.Path(dir_okay=False), default=None,
              help="Calibration file [default: the shipped one].")
def throughput(cases_path: str, fmt: str, calibration_path: str | None) -> None:
    """Throughput, latency, power and Wh/query for each case of a CSV (offline max-throughput
    regime unless a concurrency is given)."""
    from planner.perf.factors import load_calibration
    from planner.perf.model import predict
    import numpy as np

    from planner.config.validation import read_cases_csv

    cases = read_cases_csv(cases_path)
    result = predict(cases, calibration=load_calibration(calibration_path), file=cases_path)
    # A concurrency the KV cache cannot hold runs at the memory bound: said per row.
    over = result["concurrency_over_memory"].to_numpy(bool) & result["fits"].to_numpy(bool)
    result["note"] = ""
    for i in map(int, np.flatnonzero(over)):
        result.iloc[i, result.columns.get_loc("note")] = (
            f"concurrency {result['concurrency'].iloc[i]:g} above the memory bound "
            f"{result['max_batch_memory'].iloc[i]:g}: predicted at the memory bound")
        logging.getLogger(__name__).warning("%s row %d: %s", cases_path, i + 1,
                                            result["note"].iloc[i])
    columns = list(cases.columns) + [
        "out_tok_s_total", "ttft_ms", "tpot_ms", "node_power_kw", "wh_per_query", "fits",
        "reason", "batch", "replica_power_kw", "gpu_power_w", "bound", "model_kind",
        "uncertainty_pct", "calibrated", "engine_id", "ttft_unloaded_ms",
        "out_tok_s_at_concurrency", "note"]
    result = result[columns]
    if fmt == "json":
        click.echo(result.to_json(orient="records", indent=2))
    else:
        click.echo(result.to_csv(index=False), nl=False)


@cli.command(name="solve")
@instance_options("e.g. --set sites[0].power_cap_mw=30")
@click.option("--formulation", type=click.Choice(["lp", "milp"]), default="lp", show_default=True)
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Write the tables (CSV and Parquet) and summary.json here.")
@format_option()
@click.option("--time-limit", type=click.FloatRange(min=0.1), default=None,
              help="Override the solver time limit (s).")
@click.option("--robust", is_flag=True,
              help="Minimise CVaR of fleet energy over sampled coefficient errors, capacity and "
                   "power cap held at robustness.confidence (see `planner uncertainty`).")
@click.option("--uncertainty", "uncertainty_draws", type=int, default=None, metavar="N",
              help="Add the plan's uncertainty over N coefficient draws to the summary (and "
                   "uncertainty_deployments.csv, energy_distribution.png to --out).")
@click.option("--solver", default="highs", show_default=True, metavar="highs|cvxpy[:NAME]",
              help="Backend: HiGHS directly, or the same matrices through cvxpy with any solver "
                   "it supports (cvxpy:HIGHS, cvxpy:SCIPY, cvxpy:CLARABEL, ...).")
@click.option("--scheduler", default=None, metavar="local[:N]|HOST:PORT",
              help="Solve on a Dask cluster: candidates and pricing on the workers, the "
                   "master LP (and the priced MILP's small MILPs) here ('local:N': a "
                   "LocalCluster of N workers, 3 GB each).")
def solve_command(instance: str, formulation: str, scenario: str | None, sets: tuple[str, ...],
                  out_dir: str | None, fmt: str, time_limit: float | None,
                  robust: bool = False, uncertainty_draws: int | None = None,
                  solver: str = "highs", scheduler: str | None = None) -> None:
    """Choose models, precisions, batching and hardware for every query class, minimizing
    fleet GWh/day under SLOs, quality floors, inventory and power caps."""
    from planner.problem.instance import load_planning_instance
    from planner.pipeline import InfeasibleError, optimize
    from planner.report.plan import plan_text, write_infeasible, write_plan

    from planner.config.validation import check_writable_dir

    if time_limit is not None:
        sets = (*sets, (f"solver.time_limit_s={time_limit}", "--time-limit"))
    if robust:
        sets = (*sets, ("robustness.robust=true", "--robust"))
    if scheduler is not None:  # the address is checked before anything is read or solved
        from planner.solve.distributed import check_scheduler

        check_scheduler(scheduler)
    changes: list = []  # the overrides applied, for the summary's provenance
    spec, digest = load_planning_instance(instance, scenario=scenario, sets=sets,
                                          changes=changes)
    if out_dir:
        check_writable_dir(out_dir)  # before the solve, not after it
    if uncertainty_draws is not None:
        from planner.results.uncertainty import check_samples

        check_samples(uncertainty_draws, "--uncertainty", instance)
    try:
        if spec.robustness.robust:  # issue 14: minimise CVaR of energy over sampled coefficients
            from planner.pipeline import optimize_robust

            if formulation != "lp":
                raise InputError("--robust solves the LP (continuous nodes); drop --formulation")
            if scheduler is not None:
                raise InputError("--robust runs in one process (its CVaR LP has a row per "
                                 "sampled scenario over every pair; no pricer splits it over "
                                 "chunks of classes); drop --scheduler")
            plan = optimize_robust(spec, digest, changes=changes)
        else:
            plan = optimize(spec, digest, formulation, solver=solver, changes=changes,
                            scheduler=scheduler)
    except InfeasibleError as exc:
        if out_dir:  # the diagnosis goes to summary.json too, for `planner report`
            write_infeasible(exc, spec, digest, formulation, out_dir, changes)
        raise
    if uncertainty_draws is not None:  # issue 14: the fixed plan's Monte Carlo
        from planner.results.uncertainty import plan_uncertainty

        r, e = spec.robustness, plan.extra
        usum, utable, umc = plan_uncertainty(e["coefficients"], e["x"], e["n"],
                                             uncertainty_draws, r.seed, r.correlated_share,
                                             r.uncertainty_scale, r.risk_level)
        plan.summary["uncertainty"] = usum
    if out_dir:
        write_plan(plan, out_dir)
        # The instance as solved (scenario and overrides applied), for `planner simulate`.
        from planner.io import write_json_atomic

        write_json_atomic(os.path.join(out_dir, "instance.json"), spec.model_dump(mode="json"))
        if uncertainty_draws is not None:
            from planner.report.uncertainty import write_uncertainty

            write_uncertainty({"instance": instance,
                               "plans": {"robust" if spec.robustness.robust else "nominal": {
                                   "plan": plan, "summary": usum, "table": utable,
                                   "mc": umc}}}, out_dir)
    if plan.summary["status"] == "time_limit":
        click.echo(f"warning: time limit reached; incumbent with MIP gap "
                   f"{plan.summary['mip_gap']:.4g}", err=True)
    if fmt == "json":
        click.echo(json.dumps(plan.summary, indent=2, default=float))
    else:
        click.echo(plan_text(plan))
        if "robust" in plan.summary:
            rs = plan.summary["robust"]
            click.echo(f"\nrobust plan: {rs['formulation']}; nominal "
                       f"{plan.summary['objective_gwh_per_day']:.4g} GWh/day (compare with the "
                       f"nominal plan: planner uncertainty --robust)")
        if uncertainty_draws is not None:
            g = usum["gwh_per_day"]
            click.echo(f"\nuncertainty ({usum['draws']} draws, seed {usum['seed']}): GWh/day "
                       f"median {g['median']:.4g} (P10-P90 {g['p10']:.4g}-{g['p90']:.4g}), "
                       f"P(cap exceeded) {usum['p_cap_exceeded']:.1%}, P(utilisation above "
                       f"ceiling) {usum['p_utilization_above_ceiling']:.1%}"
                       + (f"; treated as exact: {', '.join(usum['treated_as_exact'])}"
                          if usum["treated_as_exact"] else ""))


@cli.command(name="roadmap")
@instance_options("e.g. --set roadmap.discount_rate=0.08")
@click.option("--formulation", type=click.Choice(["lp", "milp"]), default="lp", show_default=True)
@click.option("--foresight", type=click.Choice(["perfect", "myopic"]), default="perfect",
              show_default=True,
              help="One program over the horizon, or period by period with earlier decisions "
                   "fixed (the other is solved too, for the value of foresight).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Write the roadmap tables (CSV and Parquet) and summary.json here.")
@format_option()
@click.option("--time-limit", type=click.FloatRange(min=0.1), default=None,
              help="Override the solver time limit (s), per solve.")
@click.option("--no-compare", is_flag=True, help="Skip the other foresight (no value of "
                                                 "foresight).")
@click.option("--levers", "with_levers", is_flag=True,
              help="Also measure the instance's lever groups on the roadmap, period by period "
                   "(baseline, each alone, all).")
def roadmap_command(instance: str, formulation: str, foresight: str, scenario: str | None,
                    sets: tuple[str, ...], out_dir: str | None, fmt: str,
                    time_limit: float | None, no_compare: bool,
                    with_levers: bool = False) -> None:
    """Plan the fleet over a horizon of periods (the instance's roadmap section): what to
    order when, what to retire, and each period's operations, minimizing energy (GWh), carbon
    or cost (NPV) over the horizon."""
    from planner.problem.instance import load_planning_instance
    from planner.config.validation import check_writable_dir
    from planner.pipeline import InfeasibleError
    from planner.report.plan import write_infeasible
    from planner.report.roadmap import roadmap_json, roadmap_text, write_roadmap
    from planner.roadmap.solve import optimize_roadmap

    if time_limit is not None:
        sets = (*sets, f"solver.time_limit_s={time_limit}")
    spec, digest = load_planning_instance(instance, scenario=scenario, sets=sets)
    if out_dir:
        check_writable_dir(out_dir)
    try:
        result = optimize_roadmap(spec, digest, formulation, foresight, compare=not no_compare)
    except InfeasibleError as exc:
        if out_dir:
            write_infeasible(exc, spec, digest, formulation, out_dir)
        raise
    if with_levers:
        from planner.problem.instance import load_planning_data
        from planner.roadmap.levers import levers_over_time

        table, lsum = levers_over_time(load_planning_data(instance, scenario=scenario,
                                                          sets=sets), instance, formulation)
        result.summary["levers_over_time"] = lsum
        result.tables["levers"] = table
    if out_dir:
        write_roadmap(result, out_dir)
    emit(fmt, roadmap_json(result.summary), lambda: roadmap_text(result))


class Progress:
    """A progress bar with ETA on a terminal's stderr (silent under --quiet or when stderr is
    piped or captured); the total is set once known."""

    def __init__(self, label: str):
        # Only on a terminal: piped or captured stderr gets no half-drawn bar lines.
        show = logging.getLogger().level <= logging.WARNING and sys.stderr.isatty()
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


@cli.command(name="simulate")
@click.argument("run_dir", type=click.Path(path_type=str))
@click.option("--requests", type=int, default=None, metavar="N",
              help="Simulate the peak hour with N requests in all (needed when the plan's day "
                   "has more than 10^7 requests); without it the whole day is simulated.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@format_option()
def simulate_command(run_dir: str, requests: int | None, seed: int, fmt: str) -> None:
    """Discrete-event simulation (simpy) of a solved plan: Poisson arrivals per class to every
    deployment's replicas (continuous batching, the model's step times); each class's TTFT and
    TPOT percentiles against its SLO (also written to RUN_DIR/simulation.json for `planner
    report`)."""
    from planner.simulate.plan import simulate_run

    from planner.io import write_json_atomic

    result = simulate_run(run_dir, requests=requests, seed=seed)
    # Kept beside the plan: `planner report` shows it in the latency table.
    write_json_atomic(os.path.join(run_dir, "simulation.json"), result)
    emit(fmt, result, lambda: simulation_text(result))


def simulation_text(result: dict) -> str:
    """The simulation's per-class table in words and numbers."""
    head = (f"simulated {result['requests']:,} requests ("
            + ("the whole day" if result["mode"] == "day"
               else f"peak hour {result['peak_hour']:02d}:00 UTC") + f", seed {result['seed']})")
    lines = [head, f"{'class':<16}{'pct':>5}{'TTFT sim':>11}{'plan':>9}{'pred':>9}{'SLO':>9}"
                   f"{'TPOT sim':>11}{'pred':>9}{'SLO':>9}  met"]
    fmt = lambda v: "-" if v is None else f"{v:.4g}"  # noqa: E731
    for c in result["classes"]:
        at, pred, slo = c["at_slo_percentile"], c["predicted_at_slo_percentile"], c["slo"]
        verdict = "yes" if c["met"] else "NO: " + ", ".join(
            f"{k.replace('_ms', '').upper()} over by {v:.4g} ms" for k, v in c["miss_ms"].items())
        if not c["requests"]:
            verdict = "NO: no requests simulated"
        pct = "P" + format(slo["percentile"], "g")
        lines.append(f"{c['id']:<16}{pct:>5}{fmt(at['ttft_ms']):>11}"
                     f"{fmt(c.get('analytic_at_plan_ttft_ms')):>9}{fmt(pred['ttft_ms']):>9}{fmt(slo['ttft_ms']):>9}{fmt(at['tpot_ms']):>11}"
                     f"{fmt(pred['tpot_ms']):>9}{fmt(slo['tpot_ms']):>9}  {verdict}")
    lines.append("(ms; sim = simulated at the SLO's percentile; plan = the queueing model on "
                 "the plan's own pools; pred = the prediction the plan was made with, the class "
                 "alone on its pool; worst deployment of the class)")
    return "\n".join(lines)


@cli.command(name="levers")
@instance_options("e.g. --set sites[0].pue=1.2, before the levers are applied")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Write levers/classes/subsets (CSV, Parquet), waterfall.png, summary.json.")
@format_option()
@click.option("--uncertainty", "uncertainty_draws", type=int, default=None, metavar="N",
              help="Also re-solve baseline, each lever alone and all levers over N coefficient "
                   "draws (robustness section): reductions as median and P10-P90.")
@click.pass_context
def levers_command(ctx: click.Context, instance: str, scenario: str | None,
                   sets: tuple[str, ...], out_dir: str | None, fmt: str,
                   uncertainty_draws: int | None = None) -> None:
    """Attribute the reduction from the paper's baseline to each lever group: every subset
    solved, each lever alone and left out, exact Shapley shares, per-class breakdown."""
    from planner.problem.instance import load_planning_data
    from planner.levers import attribute_levers
    from planner.report.levers import levers_text, write_levers
    from planner.config.validation import check_writable_dir

    data = load_planning_data(instance, scenario=scenario, sets=sets)
    if out_dir:
        check_writable_dir(out_dir)
    if uncertainty_draws is not None:
        from planner.results.uncertainty import check_samples

        check_samples(uncertainty_draws, "--uncertainty", instance)
    with Progress("lever subsets") as bar:
        result = attribute_levers(data, instance, progress=bar.update, total=bar.set_total)
    if uncertainty_draws is not None:  # issue 14: lever reductions with intervals
        from planner.levers.uncertainty import lever_uncertainty

        with Progress("lever draws") as bar:
            table, usum = lever_uncertainty(data, instance, uncertainty_draws,
                                            progress=bar.update, total=bar.set_total)
        result.summary["uncertainty"] = usum
    if out_dir:
        write_levers(result, out_dir)
        if uncertainty_draws is not None:
            from planner.io import write_atomic

            write_atomic(f"{out_dir}/levers_uncertainty.csv",
                         lambda tmp: table.to_csv(tmp, index=False))
    if fmt == "json":
        click.echo(json.dumps(result.summary, indent=2, default=float))
    else:
        click.echo(levers_text(result))
        if uncertainty_draws is not None:
            click.echo(f"\nLever reductions over {uncertainty_draws} coefficient draws "
                       f"(median, P10-P90):")
            for row in table.itertuples():
                click.echo(f"  {row.lever:28s} {row.reduction:7.3g}x  median "
                           f"{row.reduction_median:.3g}x  ({row.reduction_p10:.3g}-"
                           f"{row.reduction_p90:.3g})")


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
@format_option()
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
    emit(fmt, result.summary, lambda: sweep_text(result.summary, result.table))
    if result.summary["failed"]:
        click.echo(f"{len(result.summary['failed'])} points failed; see summary.json "
                   f"(rerun with --resume to retry them)", err=True)


@cli.command(name="report")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False),
              help="The HTML file to write (self-contained, opens offline).")
@click.option("--xlsx", "xlsx_path", type=click.Path(dir_okay=False), default=None,
              help="Also write the tables as a spreadsheet, one sheet per table.")
def report_command(run_dirs: tuple[str, ...], out_path: str, xlsx_path: str | None) -> None:
    """One HTML page (and optionally a spreadsheet) from the --out folders of solve, levers
    and sweep; two or more plans are also compared side by side."""
    from planner.report.html import write_html
    from planner.report.runs import load_runs

    runs = load_runs(list(run_dirs))
    written = [write_html(runs, out_path)]
    if xlsx_path:
        from planner.report.xlsx import write_xlsx

        written.append(write_xlsx(runs, xlsx_path))
    for path in written:
        click.echo(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")


@cli.command(name="uncertainty")
@instance_options("e.g. --set robustness.correlated_share=0.8")
@click.option("--samples", type=int, default=None,
              help="Monte Carlo draws of the fixed plan (robustness.samples, at least 10).")
@click.option("--seed", type=int, default=None, help="Seed of the draws (robustness.seed).")
@click.option("--robust", is_flag=True,
              help="Also solve the robust plan and compare it with the nominal one.")
@click.option("--risk-level", type=float, default=None,
              help="alpha of the robust plan's CVaR_alpha (robustness.risk_level, in (0, 1)).")
@click.option("--redraws", type=int, default=None, metavar="N",
              help="Re-optimise N of the draws on the sweep engine (needs --out; resumable).")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Worker processes for --redraws.")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Dask scheduler for --redraws (tcp://host:8786 or 'local').")
@click.option("--resume", is_flag=True, help="Continue re-optimised draws in --out.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Write uncertainty_summary.json, per-deployment tables, "
                   "energy_distribution.png (and redraws).")
@format_option()
def uncertainty_command(instance: str, scenario: str | None, sets: tuple[str, ...],
                        samples: int | None, seed: int | None, robust: bool,
                        risk_level: float | None, redraws: int | None, jobs: int,
                        scheduler: str | None, resume: bool, out_dir: str | None,
                        fmt: str) -> None:
    """How uncertain the plan is when the coefficients are wrong (issue 14): the fixed plan's
    GWh/day, peak MW and capacity/cap checks over correlated coefficient draws, optionally the
    robust plan beside it and the re-optimised draws with the point plan's regret."""
    from planner.problem.instance import instance_from_mapping, load_planning_data
    from planner.report.uncertainty import result_json, uncertainty_text, write_uncertainty
    from planner.pipeline import uncertainty_analysis

    extra = [(f"robustness.{key}={value}", flag) for flag, key, value in (
        ("--samples", "samples", samples), ("--seed", "seed", seed),
        ("--risk-level", "risk_level", risk_level)) if value is not None]
    data = load_planning_data(instance, scenario=scenario, sets=(*sets, *extra))
    spec, digest = instance_from_mapping(data, instance)
    result = uncertainty_analysis(spec, digest, robust=robust or spec.robustness.robust)
    result["instance"] = instance
    if redraws is not None:
        from planner.errors import InputError
        from planner.sweep.redraw import run_redraws

        if not out_dir:
            raise InputError("--redraws persists each draw; give --out DIR", field="--out")
        with Progress("re-optimised draws") as bar:
            _, result["redraws"] = run_redraws(data, instance, out_dir, redraws, jobs=jobs,
                                               scheduler=scheduler, resume=resume,
                                               progress=bar.update, total=bar.set_total)
    if out_dir:
        write_uncertainty(result, out_dir)
    if fmt == "json":
        from planner.report.uncertainty import _json_safe

        summary = result_json(result)
        for entry in summary["plans"].values():
            entry.pop("deployments", None)
        click.echo(json.dumps(_json_safe(summary), indent=2, default=float))
    else:
        click.echo(uncertainty_text(result))


# --- issue 13: importers -----------------------------------------------------------------------
@cli.group(name="import")
def import_group() -> None:
    """Write a planning instance from another tool's input (Mélange)."""


@import_group.command(name="melange")
@click.argument("config", type=click.Path(dir_okay=False, path_type=str))
@click.option("--out", "out_path", type=click.Path(dir_okay=False), default=None,
              help="Instance YAML to write [default: stdout].")
@click.option("--name", default=None, help="Instance name [default: melange-<config stem>].")
def import_melange(config: str, out_path: str | None, name: str | None) -> None:
    """A Mélange CONFIG.json (gpu_info, workload_distribution, total_request_rate) as an
    equivalent planning instance: one class per size bucket, profiled req/s as measurements,
    each GPU rented per GPU at its price, objective cost. Solve it with
    `planner solve OUT.yaml --formulation milp`."""
    import yaml

    from planner.importers.melange import melange_instance, read_config
    from planner.problem.instance import instance_from_mapping

    data = melange_instance(read_config(config), config, name)
    instance_from_mapping(data, config)  # refuse to write an instance that does not validate
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    if out_path:
        from pathlib import Path

        Path(out_path).write_text(text, encoding="utf-8")
        logging.getLogger(__name__).info("wrote %s", out_path)
    else:
        click.echo(text, nl=False)


def reserve_stdout_for_output() -> None:
    """Machine output owns standard output. Native libraries write to file descriptor 1
    directly, past Python (highspy 1.16 prints a banner from its constructor), so fd 1 is
    pointed at stderr and ``sys.stdout`` gets a private copy of the real stdout: whatever a
    dependency prints lands on stderr, and only what the CLI echoes reaches stdout."""
    try:
        sys.stdout.flush()
        real = os.dup(1)
        os.dup2(2, 1)
    except (OSError, ValueError, AttributeError):  # no real fds (embedded, captured): leave it
        return
    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
    sys.stdout = open(real, "w", encoding=encoding, errors="replace", buffering=1,
                      closefd=True)


def main() -> None:
    """Console-script entry point."""
    reserve_stdout_for_output()
    cli(obj={})


if __name__ == "__main__":
    main()
