"""How the serving version changes: promotion through the gate, and rollback.

`promote` makes a registered version the serving one (the alias `champion`) only through the
gate (`keel.registry.gate.judge`): both the version and the current champion are loaded from
the registry and judged on the same evaluation rows through their artefacts, so what is judged
is what would serve. The `Verdict` is recorded on the version (`keel.gate.*` tags).
`rollback` moves `champion` back along the chain of earlier champions
(`keel.registry.audit.champion_stack`). Both record an event in the audit history.

Promotions and rollbacks read the champion, judge, move the alias and write the event under
the registry lock (see `keel.registry.store.Store.locked`), so two at once queue: never two
champions, never none, and each event's previous champion is the one the event before it left.
On a remote server that lock covers one machine; across machines MLflow's alias semantics
still hold (an alias names exactly one version), but a recorded previous champion may be stale.
"""

from __future__ import annotations

import json
import math

from keel.errors import RegistryError
from keel.registry._who import now, user
from keel.registry.audit import Event, champion_stack, read_events, write_event
from keel.registry.canary import CANDIDATE, clear_canary
from keel.registry.gate import GateInputs, Verdict, judge
from keel.registry.ref import RegistryRef
from keel.registry.store import Store, connect, translated
from keel.registry.versions import CHAMPION, aliases, find_version, load_version, measure_version

__all__ = ["promote", "rollback"]


def _next_seq(events: list[Event]) -> int:
    return events[0].seq + 1 if events else 1


def _move_champion(store: Store, audit: str, event: Event, before: int | None) -> None:
    """Point `champion` at the event's version and record the event, or change nothing."""
    client = store.client
    if event.champion is not None and event.champion != before:
        client.set_registered_model_alias(store.model, CHAMPION, str(event.champion))
    try:
        write_event(client, audit, event)
    except BaseException:
        if before is None:
            client.delete_registered_model_alias(store.model, CHAMPION)
        elif before != event.champion:
            client.set_registered_model_alias(store.model, CHAMPION, str(before))
        raise


def promote(
    ref: RegistryRef,
    version: int | str,
    gate: GateInputs,
    *,
    force: bool = False,
    reason: str | None = None,
    who: str | None = None,
) -> Verdict:
    """Make a version the champion if the gate passes it (or `force` with a `reason`).

    Both the version and the current champion are loaded from the registry and judged on the
    gate's evaluation rows through their artefacts, so what is judged is what would serve.
    The verdict is recorded on the version (`keel.gate.*` tags) and as an audit event, whether
    the version was promoted or refused.
    """
    if force and not (reason or "").strip():
        raise RegistryError(
            "a forced promotion needs a reason (--reason TEXT); it is recorded with the verdict"
        )
    who = user(who)
    store = connect(ref)
    with translated(store.uri), store.locked():
        client = store.client
        mv = find_version(store, version)
        number = int(mv.version)
        current = aliases(store).get(CHAMPION)
        if current == number:
            raise RegistryError(f"version {number} of '{store.model}' is already the champion")
        names = gate.metrics
        metrics = measure_version(store, mv, gate.frame, gate.target, metrics=names)
        notes: list[str] = []
        champion_metrics: dict[str, float] | None = None
        if current is not None:
            try:
                champion_mv = client.get_model_version(store.model, str(current))
                champion_metrics = measure_version(
                    store, champion_mv, gate.frame, gate.target, metrics=names
                )
            except RegistryError as exc:
                if not force:
                    raise RegistryError(
                        f"{exc}; the gate cannot compare with the champion (version {current}):"
                        " roll back with `keel rollback`, or promote with --force --reason"
                    ) from None
                notes.append(f"the champion (version {current}) could not be judged: {exc}")
                champion_metrics = dict.fromkeys(names, math.nan)
        failures, more = judge(
            metrics,
            champion_metrics,
            floors=gate.floors,
            max_regression=gate.max_regression,
            champion=current,
        )
        notes += more
        if not gate.floors and not gate.max_regression:
            notes.append("no [gate] thresholds are configured: nothing was checked")
        passed = not failures
        verdict = Verdict(
            version=number,
            passed=passed,
            promoted=passed or force,
            metrics=metrics,
            champion=current,
            champion_metrics=champion_metrics or {},
            thresholds=gate.thresholds,
            failures=failures,
            notes=notes,
            who=who,
            when=now(),
            forced=force and not passed,
            reason=(reason or "").strip() or None,
        )
        audit = store.experiment(f"keel/{store.model}/audit")
        events = read_events(client, audit)
        kind = "promote" if passed else ("force-promote" if force else "refused")
        event = Event(
            seq=_next_seq(events),
            kind=kind,  # type: ignore[arg-type]
            version=number,
            previous=current,
            champion=number if verdict.promoted else current,
            who=who,
            when=verdict.when,
            reason=verdict.reason,
            verdict=verdict.to_dict(),
        )
        _move_champion(store, audit, event, current)
        if verdict.promoted and aliases(store).get(CANDIDATE) == number:
            clear_canary(client, store.model)  # the candidate serves everyone now
        tags = {
            "keel.gate.passed": str(passed).lower(),
            "keel.gate.verdict": json.dumps(verdict.to_dict(), sort_keys=True),
            "keel.gate.who": who,
            "keel.gate.when": verdict.when,
            "keel.gate.forced": str(verdict.forced).lower(),
        }
        if verdict.reason:
            tags["keel.gate.reason"] = verdict.reason
        for key, value in tags.items():
            client.set_model_version_tag(store.model, str(number), key, value)
        return verdict


def rollback(
    ref: RegistryRef,
    *,
    to: int | str | None = None,
    who: str | None = None,
    reason: str | None = None,
) -> Event:
    """Move `champion` back to the champion before the current one, or to an earlier one.

    Rollback walks back along the chain of champions (see `keel.registry.audit.champion_stack`):
    repeated rollbacks go further back. `to` must name a version that was champion before;
    any other version goes through the gate with `promote`. The target's artefact must load.
    """
    who = user(who)
    store = connect(ref)
    with translated(store.uri), store.locked():
        client = store.client
        current = aliases(store).get(CHAMPION)
        audit = store.experiment(f"keel/{store.model}/audit")
        events = read_events(client, audit)
        chain = champion_stack(events, current)
        if to is None:
            earlier = chain[:-1] if current is not None else chain
            if not earlier:
                whose = (
                    f"version {current} is the first champion of '{store.model}'"
                    if current is not None
                    else f"'{store.model}' has never had a champion"
                )
                raise RegistryError(f"no earlier champion to roll back to: {whose}")
            target = earlier[-1]
        else:
            target = int(find_version(store, to).version)
            if target == current:
                raise RegistryError(f"version {target} is already the champion")
            if target not in chain:
                raise RegistryError(
                    f"version {target} has never been the champion, so there is nothing to roll "
                    f"back to; promote it through the gate with `keel promote {target}`"
                )
        load_version(store, find_version(store, target))  # a corrupt artefact changes nothing
        event = Event(
            seq=_next_seq(events),
            kind="rollback",
            version=target,
            previous=current,
            champion=target,
            who=who,
            when=now(),
            reason=(reason or "").strip() or None,
        )
        _move_champion(store, audit, event, current)
        note = {"from": current, "who": who, "when": event.when, "reason": event.reason}
        client.set_model_version_tag(store.model, str(target), "keel.rollback", json.dumps(note))
        return event
