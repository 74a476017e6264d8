"""What monitor.7 and model.2 gather from the system to judge quality: the windows the intake
kept rows of (`keel.monitor.outputs`), late labels and their fingerprint, the versions' offline
metrics, the serving champion's predictions on the evaluation data, and the canary's recorded
comparison. The judgements themselves are `keel.monitor.online` (window by window, stored with
what they rest on); nothing here reads the whole prediction log. Registry reads and the
evaluation reference are read once per run (`System.read_once`)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from keel.evidence import BarChart, Evidence, Table, not_configured
from keel.monitor.quality import (
    Calibration,
    Reference,
    calibration,
    estimated_metric,
    spearman,
)
from keel.system import System


def _memo(system: System, name: str, compute: Any) -> Any:
    return system.read_once(f"online-{name}", compute)


def _state(system: System) -> Any:
    from keel.checks._monitor_state import monitor_state

    return monitor_state(system)


def version_windows(system: System) -> dict[int, list[str]]:
    """Each version's windows, oldest first."""
    from keel.monitor.quality_verdict import version_windows as of_state

    return of_state(_state(system))


def served_during(system: System, start: str, end: str) -> pd.DataFrame:
    """The kept served rows (with a prediction) logged from `start` to `end` (ISO times): the
    windows overlapping that period only."""
    from keel.monitor.online import served_rows

    state, seconds = _state(system), system.config.monitor.window
    begin, until = pd.Timestamp(start), pd.Timestamp(end)
    keys = [
        (w, v)
        for w, v in state.windows
        if pd.Timestamp(w) <= until and pd.Timestamp(w) + pd.Timedelta(seconds=seconds) > begin
    ]
    rows = served_rows(state.state_dir, sorted(keys))
    if not len(rows):
        return rows
    times = pd.to_datetime(rows["time"], utc=True, format="ISO8601")
    return rows[(times >= begin) & (times <= until)].reset_index(drop=True)


def labels_source(system: System) -> Any:
    """The late labels as `keel.monitor.online.Labels`: read only when a judgement needs them,
    with a fingerprint of the files (names, sizes, times) so judgements stored with an older
    one are made again; an SQL source is read to fingerprint its content."""
    import glob as globbing
    import hashlib
    from pathlib import Path

    from keel.monitor.online import NO_LABELS, Labels

    source, s = system.config.data.labels, system.config.system

    def read() -> pd.Series | None:
        return labels(system)

    if source is None or not s.id:
        return NO_LABELS
    if isinstance(source, str):
        pattern = Path(source) if Path(source).is_absolute() else system.root / source
        found = sorted(globbing.glob(str(pattern), recursive=True))
        stats = []
        for name in found:
            try:
                st = Path(name).stat()
            except OSError:
                continue
            stats.append((name, st.st_size, st.st_mtime_ns))
        fingerprint = json.dumps([stats, s.id, s.target])
    else:
        found_labels = read()
        content = b"" if found_labels is None else pd.util.hash_pandas_object(found_labels).values
        fingerprint = hashlib.sha256(bytes(memoryview(content))).hexdigest()
    return Labels(hashlib.sha256(fingerprint.encode()).hexdigest(), read)


def labels(system: System) -> pd.Series | None:
    """Late labels by example id (as text), or None when [data] labels (or [system] id) is
    not set."""
    from keel.data.sources import labels_arrived, read_frame
    from keel.errors import CheckError

    source, s = system.config.data.labels, system.config.system
    if source is None or not s.id or not labels_arrived(source, system.root):
        return None

    def read() -> pd.Series:
        frame = read_frame(source, system.root, key="keel.toml: [data] labels")
        missing = [c for c in (s.id, s.target) if c not in frame.columns]
        if missing:
            raise CheckError(
                f"[data] labels lacks {', '.join(missing)}: it needs the id column ({s.id}) "
                f"and the target ({s.target})"
            )
        frame = frame.drop_duplicates(s.id, keep="last")
        return frame.set_index(frame[s.id].astype(str))[s.target]

    return _memo(system, "labels", read)


def versions(system: System) -> dict[int, Any]:
    """Every registered version (`ModelVersion`) by number; empty when the registry is out of
    reach."""
    from keel.registry.snapshot import list_versions

    def read() -> dict[int, Any]:
        try:
            return {v.version: v for v in list_versions(system.registry)}
        except Exception:  # noqa: BLE001 - no registry: nothing stored offline
            return {}

    return _memo(system, "versions", read)


def offline(system: System) -> dict[int, float]:
    """Each version's offline primary metric, as stored with it."""
    metric = system.metric_name
    return {n: v.metrics[metric] for n, v in versions(system).items() if metric in v.metrics}


def _reference_key(version: int, ref: Reference) -> str:
    """A fingerprint of a reference: what a stored window judgement compared with."""
    import hashlib

    digest = hashlib.sha256(str(version).encode())
    digest.update(pd.util.hash_pandas_object(ref.predictions.astype(str), index=False).values)
    if ref.proba is not None:
        digest.update(ref.proba.tobytes())
        digest.update(json.dumps(ref.classes).encode())
    return digest.hexdigest()


def labels_arrived_for(system: System) -> bool:
    """Whether late labels are configured (with [system] id) and have arrived."""
    from keel.data.sources import labels_arrived

    source = system.config.data.labels
    return bool(
        source is not None and system.config.system.id and labels_arrived(source, system.root)
    )


def eval_reference(
    system: System, champion: Any
) -> tuple[tuple[Reference, str], Calibration | None] | None:
    """The version's (`champion`, a `ModelVersion`) predictions on the current evaluation rows
    (through its artefact, as it serves) and, for classifiers, CBPE's calibration there; None
    when it cannot predict them. Kept in `.keel/cache` across runs while the version, the
    evaluation rows, what is installed and the settings it uses stay the same (`version_key`):
    the model is loaded only when one changed."""
    from keel.checks._monitor_inputs import version_key
    from keel.errors import KeelError
    from keel.model.online_quality import as_text

    version = champion.version

    def compute() -> tuple[tuple[Reference, str], Calibration | None] | None:
        from keel.registry.artefact import predict_raw  # MLflow: only when nothing is kept
        from keel.registry.versions import load_model

        frame = system.raw("eval", all_rows=True)  # all rows: no training needed to pick them
        try:
            model = load_model(system.registry, version)
            out = predict_raw(model, frame)
        except Exception:  # noqa: BLE001 - the first window is the reference then
            return None
        columns = [c for c in out.columns if c.startswith("proba_")]
        if not columns:
            ref = Reference("the evaluation data", out["prediction"])
            return (ref, _reference_key(version, ref)), None
        names = [as_text(c.removeprefix("proba_")) for c in columns]
        order = np.argsort(names)
        classes = [names[i] for i in order]
        matrix = out[columns].to_numpy(dtype=float)[:, order]
        ref = Reference("the evaluation data", out["prediction"].map(as_text), matrix, classes)
        metric = estimated_metric(system.metric_name)
        gap = system.config.monitor.quality_tolerance
        fitted = calibration(metric, matrix, classes, frame[system.target], max_gap=gap)
        return (ref, _reference_key(version, ref)), fitted

    def kept() -> tuple[tuple[Reference, str], Calibration | None] | None:
        try:
            evaluation = system.content_hash("eval")
        except KeelError:
            return compute()  # unreadable rows: said by compute's None, never kept
        key = version_key(
            system,
            champion,
            evaluation,
            system.target,
            system.metric_name,
            system.config.monitor.quality_tolerance,
        )
        return system.cache.memo("monitor7-reference", key, compute)

    return _memo(system, f"reference-{version}", kept)


def fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


def labels_not_there(system: System) -> str:
    """A note when [data] labels names a file or glob that matches nothing yet (labels come
    after serving, so this is no error, but it is said: a misspelt path reads the same)."""
    from keel.data.sources import labels_arrived

    source = system.config.data.labels
    if source is None or labels_arrived(source, system.root):
        return ""
    return (
        f"; [data] labels = {source!r} matches no file under {system.root} yet, so no label "
        "was read (labels arrive after serving; if they should be there, check the path)"
    )


# -- model.2 ---------------------------------------------------------------------------------
HINT_2 = (
    "Set [data] labels (a source with the [system] id and target columns) so served rows get "
    "their labels; serve several versions (a canary with `keel canary start VERSION`) and run "
    "`keel score` again once their labels arrive."
)


def per_version(system: System) -> list[tuple[int, float, float, int]]:
    """(version, offline, online, labelled rows) for each version whose served rows of its
    newest windows that are over have at least [monitor] min_labels labels and whose offline
    metric is stored (`keel.monitor.online.measure_versions`). The window still filling is
    left out: its labels are the fewest, and each version's measure then changes once a
    window, not on every run."""
    from keel.monitor.online import measure_versions

    found, stored = labels_source(system), offline(system)
    now, seconds = pd.Timestamp.now(tz="UTC"), system.config.monitor.window
    over = {  # a window counts once it is over: its judgement then holds until the next one
        v: [w for w in ws if pd.Timestamp(w) + pd.Timedelta(seconds=seconds) <= now]
        for v, ws in version_windows(system).items()
    }
    measured = measure_versions(
        _state(system).state_dir,
        {v: ws for v, ws in over.items() if ws},
        labels=found,
        task=system.task,
        metric=system.metric_name,
    )
    return [
        (m.version, stored[m.version], m.online, m.labelled)
        for m in measured
        if m.online is not None
        and m.labelled >= system.config.monitor.min_labels
        and m.version in stored
    ]


def correlation_evidence(system: System, measured: list[tuple[int, float, float, int]]) -> Evidence:
    m, metric = system.config.monitor, system.metric_name
    rho = spearman([r[1] for r in measured], [r[2] for r in measured])
    table = Table(
        f"Offline and online {metric} per version",
        ["version", f"offline {metric}", f"online {metric}", "labelled rows"],
        [[v, fmt(off), fmt(on), n] for v, off, on, n in measured],
    )
    chart = BarChart(
        f"{metric} per version, offline and online",
        [f"v{v} {side}" for v, *_ in measured for side in ("offline", "online")],
        [x for _, off, on, _ in measured for x in (off, on)],
        x_label=metric,
    )
    if not np.isfinite(rho):
        constant = [
            side
            for side, values in (
                ("offline", [r[1] for r in measured]),
                ("online", [r[2] for r in measured]),
            )
            if len(set(values)) < 2
        ]
        return Evidence(
            "model.2",
            "not_configured",
            f"the {' and '.join(constant) or 'measured'} {metric} is the same for all "
            f"{len(measured)} versions, so they have no order to correlate (Spearman undefined)",
            "Compare versions that differ: serve (with labels) versions whose offline "
            f"{metric} differs, e.g. a canary of a retrained version. " + HINT_2,
            tables=[table],
            thresholds={"min_correlation": m.min_correlation, "min_versions": m.min_versions},
        )
    ok = rho >= m.min_correlation
    summary = (
        f"Spearman rank correlation of offline and online {metric} across {len(measured)} "
        f"versions is {rho:.2f} ({'at least' if ok else 'below'} {m.min_correlation:g})"
    )
    return Evidence(
        "model.2",
        "pass" if ok else "fail",
        summary,
        ""
        if ok
        else "Offline gains do not show online: revisit the offline metric, the "
        "evaluation data (is it like served traffic?) or the labels' join.",
        tables=[table],
        figures=[chart],
        thresholds={"min_correlation": m.min_correlation, "min_versions": m.min_versions},
        facts={"spearman": rho, "versions": len(measured), "metric": metric},
    )


@dataclass(frozen=True)
class OnlineInterval:
    """A 95% bootstrap interval of the canary's online difference (candidate minus champion)
    and the labelled rows it rests on (both routes together)."""

    low: float
    high: float
    labelled: int

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


def online_interval(
    system: System, verdict: dict[str, Any], until: str, draws: int = 200
) -> OnlineInterval | None:
    """The 95% bootstrap interval of the canary's online difference from the labelled rows
    each route served during it; None when they cannot be read or a route has fewer than 20."""
    from keel.model.online_quality import labelled_quality

    known = labels(system)
    started = (verdict.get("canary") or {}).get("started")
    if known is None or not started:
        return None
    during = served_during(system, started, until)
    if not len(during):
        return None
    during = during[during["example_id"].astype(str).isin(known.index)]
    routes = {
        r: during[during["route"] == r].reset_index(drop=True) for r in ("champion", "canary")
    }
    if any(len(f) < 20 for f in routes.values()):
        return None
    rng = np.random.default_rng(system.config.model.seed)
    metric, task = system.metric_name, system.task
    differences = []
    for _ in range(draws):
        a, b = (
            labelled_quality(f.iloc[rng.integers(0, len(f), len(f))], known, metric, task)[1]
            for f in (routes["champion"], routes["canary"])
        )
        if a is not None and b is not None:
            differences.append(b - a)
    if len(differences) < draws // 2:
        return None
    low, high = np.quantile(differences, [0.025, 0.975])
    return OnlineInterval(float(low), float(high), sum(len(f) for f in routes.values()))


def ranks_agree(off: float, interval: OnlineInterval) -> tuple[str, int | None]:
    """How the canary's online interval judges the offline difference `off` (non-zero):
    "agree" when it excludes zero on the side of `off`; "disagree" when it excludes zero on
    the other side, or holds zero but not `off` (online shows no difference of the offline
    size); "unknown" when it holds both, with the labelled rows that would make it narrower
    than |off| (the width shrinks with the square root of the rows), so that it could not."""
    if interval.low > 0 or interval.high < 0:
        return ("agree" if (interval.low > 0) == (off > 0) else "disagree"), None
    if not interval.contains(off):
        return "disagree", None
    width = interval.high - interval.low
    return "unknown", max(1, math.ceil(interval.labelled * ((width / abs(off)) ** 2 - 1)))


def _canary_event(system: System, champion: int) -> Any:
    """The newest `canary-pass` of the champion in the audit history, or None."""
    from keel.registry.snapshot import history

    try:
        events = history(system.registry)
    except Exception:  # noqa: BLE001 - an unreachable registry: nothing recorded to read
        events = []
    return next((e for e in events if e.kind == "canary-pass" and e.version == champion), None)


def canary_evidence(system: System, measured: list[Any]) -> Evidence:
    """Fewer versions than [monitor] min_versions: the champion's latest passed canary. It
    passes when the online difference of the two routes on their labelled rows is told apart
    from zero in the direction of the offline difference (`ranks_agree`)."""
    m, metric = system.config.monitor, system.metric_name
    few = f"{len(measured)} version(s) served with {m.min_labels}+ labels (fewer than "
    few += f"[monitor] min_versions = {m.min_versions})"
    champion = next((v for v in versions(system).values() if "champion" in v.aliases), None)
    if champion is None:
        return not_configured("model.2", few + " and nothing serves", HINT_2)
    event = _canary_event(system, champion.version)
    verdict = (event.verdict or {}) if event else {}
    old, new = verdict.get("champion") or {}, verdict.get("candidate") or {}
    stored = offline(system)
    pair = (old.get("version"), new.get("version"))
    if event is None or old.get("quality") is None or new.get("quality") is None:
        what = "no passed canary of the champion" if event is None else "its canary had no labels"
        return not_configured("model.2", f"{few}, and {what}", HINT_2)
    if pair[0] not in stored or pair[1] not in stored:
        return not_configured(
            "model.2", f"{few}, and v{pair[0]}/v{pair[1]} lack offline {metric}", HINT_2
        )
    off = stored[pair[1]] - stored[pair[0]]
    on = new["quality"] - old["quality"]
    interval = online_interval(system, verdict, event.when)
    table = Table(
        f"Canary of version {pair[1]} against champion {pair[0]} ({event.when})",
        ["version", "route", f"offline {metric}", f"online {metric}", "labelled rows"],
        [
            [pair[0], "champion", fmt(stored[pair[0]]), fmt(old["quality"]), old.get("labelled")],
            [pair[1], "canary", fmt(stored[pair[1]]), fmt(new["quality"]), new.get("labelled")],
        ],
    )
    facts: dict[str, Any] = {
        "offline_difference": off,
        "online_difference": on,
        "online_interval": [interval.low, interval.high] if interval else None,
        "canary_event": event.seq,
    }
    thresholds = {"min_versions": m.min_versions, "interval": 0.95}
    head = f"{few}; the champion's canary of v{pair[1]} against v{pair[0]}:"

    def unmeasured(summary: str, hint: str) -> Evidence:
        return Evidence(
            "model.2", "not_configured", summary, hint, [table], [], thresholds, facts=facts
        )

    if off == 0:
        return unmeasured(
            f"{head} both versions have the same offline {metric} ({stored[pair[0]]:.4f}), so "
            "there is no offline ranking for the online one to confirm",
            "Canary a version whose offline metric differs from the champion's. " + HINT_2,
        )
    if interval is None:
        return unmeasured(
            f"{head} too few labelled rows joined the rows each route served during it (at "
            "least 20 a route) for an interval of the online difference",
            HINT_2,
        )
    said, needed = ranks_agree(off, interval)
    figures = (
        f"offline {off:+.4f}, online {on:+.4f} (95% interval [{interval.low:+.4f}, "
        f"{interval.high:+.4f}] on {interval.labelled:,} labelled rows)"
    )
    facts |= {"agreement": said, "labelled_needed": needed}
    if said == "unknown":
        return unmeasured(
            f"{head} {figures}: the online interval holds both zero and the offline difference, "
            f"so it cannot tell the offline difference apart from zero; about {needed:,} more "
            "labelled rows would narrow it enough",
            f"Serve a longer canary (or a larger [canary] share) until about {needed:,} more "
            "of its rows have labels, then decide it again. " + HINT_2,
        )
    if said == "agree":
        summary = f"{head} {figures}: online ranks the versions as offline does"
    elif interval.contains(0):
        summary = f"{head} {figures}: online shows no difference where offline shows {off:+.4f}"
    else:
        summary = f"{head} {figures}: online ranks the versions the other way"
    ok = said == "agree"
    return Evidence(
        "model.2",
        "pass" if ok else "fail",
        summary,
        ""
        if ok
        else "Offline and online disagree on which version is better: revisit the "
        "offline metric or the evaluation data. " + HINT_2,
        tables=[table],
        thresholds=thresholds,
        facts=facts,
    )


def quality_inputs(system: System) -> Any:
    """monitor.7's inputs (`keel.monitor.quality_verdict.QualityInputs`) from the system."""
    from keel.monitor.quality import Limits
    from keel.monitor.quality_verdict import QualityInputs

    state, m, task = _state(system), system.config.monitor, system.task
    references, calibration = {}, None
    if state.champion is not None and state.windows:
        got = eval_reference(system, state.champion)
        if got is not None:
            references[state.champion.version], calibration = got
    limit = m.drift_js if task == "regression" else m.drift_linf
    return QualityInputs(
        state=state,
        limits=Limits(
            task, system.metric_name, m.quality_tolerance, m.min_labels, m.min_rows, limit
        ),
        labels=labels_source(system),
        labels_arrived=labels_arrived_for(system),
        labels_note=labels_not_there(system),
        id_column=system.config.system.id,
        offline=offline(system),
        references=references,
        calibration=calibration,
    )
