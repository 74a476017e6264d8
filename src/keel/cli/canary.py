"""`keel canary …`: a candidate version takes a share of live traffic before it serves everyone.

    keel canary start VERSION [PATH] [--share 0.1]  served by a fresh process first (must equal
                                                    offline), then routed a share of traffic
    keel canary status [PATH] [--decide]            candidate against champion on what the
                                                    servers logged; --decide acts on the verdict
    keel canary abort [PATH] [--reason TEXT]        traffic back to the champion alone

`status --decide` ends a canary whose window is over: a pass is recorded and the candidate is
promoted through the gate (`keel promote`); a failure is recorded as an abort. A comparison the
data cannot decide yet (with `[data] labels` set: labels too few to rule out a
`[canary] max_quality_drop`) keeps it waiting, and status says how many more labelled rows it
needs; past `[canary] deadline` it is aborted instead. Exit codes of status: 0 promoted or still
waiting, 1 aborted or refused by the gate.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from keel.cli._app import PathArg, command, err, group, out

canary = group("canary", "Canary a candidate version on a share of live traffic.")

Share = Annotated[
    float | None,
    typer.Option(help="Share of example ids routed to the candidate (default: [canary] share)."),
]
CHECK_ROWS = 200  # evaluation rows the fresh process must answer as offline


def _system(path: Path) -> Any:
    from keel.system import System

    return System.from_path(path)


def _policy(system: Any) -> Any:
    from keel.serve.canary import CanaryPolicy

    c = system.config.canary
    return CanaryPolicy(
        window_seconds=c.window,
        min_requests=c.min_requests,
        max_error_rate_increase=c.max_error_rate_increase,
        max_p99_ratio=c.max_p99_ratio,
        max_prediction_distance=c.max_prediction_distance,
        max_quality_drop=c.max_quality_drop,
        max_probability_distance=c.max_probability_distance,
        deadline_seconds=c.deadline,
    )


def serving_rows(system: Any, n: int) -> Any:
    """Up to `n` evaluation rows as a client sends them: the target left out."""
    raw = system.raw("eval", all_rows=True)
    raw = raw.drop(columns=[system.config.system.target], errors="ignore")
    return raw.head(n).reset_index(drop=True)


@command("start", under=canary)
def start(
    version: Annotated[int, typer.Argument(help="The candidate version.")],
    path: PathArg = Path("."),
    share: Share = None,
    reason: Annotated[str | None, typer.Option(help="Why, for the record.")] = None,
) -> None:
    """Check VERSION in a fresh server process, then route a share of live traffic to it."""
    from keel.errors import KeelError
    from keel.registry.canary import start_canary
    from keel.serve.process import fresh_process_check
    from keel.training import registry_ref

    system = _system(path)
    ref = registry_ref(system)
    schema_file = system.root / system.config.data.schema_file
    if not schema_file.is_file():
        raise KeelError(
            f"a canary serves through `keel serve`, which validates against the schema, and "
            f"{schema_file} does not exist ([data] schema): write one with `keel schema infer`"
        )
    share = share if share is not None else system.config.canary.share
    rows = serving_rows(system, CHECK_ROWS)
    with err.status(f"serving version {version} from a fresh process"):
        check = fresh_process_check(
            ref, version, schema_file, rows, id_column=system.config.system.id
        )
    if not check.ok:
        raise KeelError(f"the canary did not start: {check.describe()}")
    err.print(check.describe(), highlight=False)
    state = start_canary(ref, version, share, reason=reason)
    window = system.config.canary.window
    out.print(
        f"canary of version {state.version} started: {state.share:.0%} of example ids go to it "
        f"beside champion version {state.champion} from the servers' next poll "
        f"([serve] poll_seconds = {system.config.serve.poll_seconds:g}). After {window:g} s "
        f"run `keel canary status --decide`.",
        highlight=False,
        markup=False,  # "[serve]" is text, not Rich markup
    )


def _labels(system: Any) -> Any:
    """Late labels by example id (as text), or None when none have arrived or none are set."""
    from keel.checks._online import labels

    return labels(system)


def _report_table(report: Any) -> Table:
    from keel.checks._format import num

    table = Table(title=f"canary of version {report.candidate.version}: {report.decision}")
    for name in ("", "champion", "candidate"):
        table.add_column(name)
    c, k = report.champion, report.candidate

    def ms(v: float | None) -> str:
        return "—" if v is None else f"{v:.1f}"

    table.add_row("version", str(c.version), str(k.version))
    table.add_row("rows served", f"{c.rows:,}", f"{k.rows:,}")
    table.add_row("errors", f"{c.errors} ({c.error_rate:.2%})", f"{k.errors} ({k.error_rate:.2%})")
    table.add_row(
        "p50 / p99 ms", f"{ms(c.p50_ms)} / {ms(c.p99_ms)}", f"{ms(k.p50_ms)} / {ms(k.p99_ms)}"
    )
    if c.quality is not None or k.quality is not None:
        # the metric to four significant digits: a drop of 0.015 must not print as 1.0 / 1.0
        table.add_row(
            f"{report.metric} (labelled rows)",
            f"{num(c.quality)} ({c.labelled})",
            f"{num(k.quality)} ({k.labelled})",
        )
    return table


@command("status", under=canary)
def status(
    path: PathArg = Path("."),
    decide: Annotated[
        bool, typer.Option("--decide", help="End the canary when its window is over.")
    ] = False,
) -> None:
    """Compare the candidate with the champion on what the servers logged since it started."""
    from keel.errors import KeelError
    from keel.log.read import served_rows
    from keel.log.remote import local_log_root, take_remote
    from keel.registry.canary import current_canary, end_canary
    from keel.serve.canary import judge_canary
    from keel.training import registry_ref

    system = _system(path)
    ref = registry_ref(system)
    state = current_canary(ref)
    if state is None:
        raise KeelError("no canary is running: start one with `keel canary start VERSION`")
    with err.status("reading the prediction log"):
        take_remote(system.root, system.config.data.serving_log)  # a URL: mirrored first
        log = local_log_root(system.root, system.config.data.serving_log)
        rows = served_rows(log, since=state.started)
        report = judge_canary(
            rows,
            state,
            _policy(system),
            task=system.task,
            metric=system.metric_name,
            labels=_labels(system),
            labels_expected=system.config.data.labels is not None,
        )
    out.print(_report_table(report))
    for comparison in report.comparisons:
        mark = "ok  " if comparison.ok else "WAIT" if comparison.undecided else "FAIL"
        value = "—" if comparison.value is None else f"{comparison.value:.4g}"
        out.print(
            f"{mark} {comparison.name}: {value} (limit {comparison.limit:g}) — {comparison.detail}",
            highlight=False,
        )
    for reason in report.reasons:
        out.print(f"{report.decision}: {reason}", highlight=False)
    if not decide or report.decision == "wait":
        return
    passed = report.decision == "promote"
    end_canary(ref, passed, report.to_dict())
    if not passed:
        out.print(f"canary aborted: version {state.version} no longer takes traffic")
        raise typer.Exit(1)
    from keel.registry.promotion import promote
    from keel.training import gate_inputs

    with err.status(f"promoting version {state.version} through the gate"):
        verdict = promote(ref, state.version, gate_inputs(system), reason="canary passed")
    if not verdict.passed:
        out.print(
            f"the canary passed but the gate refused version {state.version}: "
            + "; ".join(verdict.failures)
        )
        raise typer.Exit(1)
    out.print(f"canary passed; version {state.version} is the champion now")


@command("abort", under=canary)
def abort(
    path: PathArg = Path("."),
    reason: Annotated[str | None, typer.Option(help="Why, for the record.")] = None,
) -> None:
    """End the running canary: the champion serves all traffic again."""
    from keel.registry.canary import end_canary
    from keel.training import registry_ref

    event = end_canary(registry_ref(_system(path)), False, {"aborted": "by hand"}, reason=reason)
    out.print(f"canary of version {event.version} aborted; the champion serves all traffic")
