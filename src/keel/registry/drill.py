"""The registry side of a rollback drill: which versions it swaps, and its recorded result.

A drill (`keel.serve.drill.rollback_drill`) rolls the champion C back to the champion P before
it, under load, then makes C champion again through the gate. The rollback and the restore are
ordinary audit events (`rollback`, `promote` or `refused`); the drill's own result is one more
event, `drill`, with `version` = P (rolled back to), `previous` = C (rolled back from),
`champion` = the champion after the drill, and the measurements as its `verdict`. infra.7
reads these events back with `drills`.
"""

from __future__ import annotations

from typing import Any

from keel.errors import RegistryError
from keel.registry._who import now, user
from keel.registry.audit import Event, champion_stack, history, read_events, write_event
from keel.registry.ref import RegistryRef
from keel.registry.store import connect, translated
from keel.registry.versions import CHAMPION, aliases, find_version, load_version

UNDO_REASON = "rollback drill: undo a rollback the servers could not serve"

__all__ = ["drill_versions", "drills", "record_drill", "undo_rollback"]


def drill_versions(ref: RegistryRef) -> tuple[int, int]:
    """(C, P): the champion now and the earlier champion a rollback would return to.

    `RegistryError` when nothing serves, or when the champion is the first one (a rollback
    would have nowhere to go)."""
    store = connect(ref)
    with translated(store.uri):
        current = aliases(store).get(CHAMPION)
        if current is None:
            raise RegistryError(
                f"'{store.model}' has no champion, so nothing serves and there is nothing to "
                "roll back: register a version with `keel train` and promote it with "
                "`keel promote VERSION`"
            )
        audit = store.experiment(f"keel/{store.model}/audit", create=False)
        events = [] if audit is None else read_events(store.client, audit)
    chain = champion_stack(events, current)
    if len(chain) < 2:
        raise RegistryError(
            f"no earlier champion to roll back to: version {current} is the first champion of "
            f"'{store.model}'; promote a second version first (`keel train`, then "
            "`keel promote VERSION`), so that the drill can roll back to this one"
        )
    return current, chain[-2]


def undo_rollback(ref: RegistryRef, version: int, *, rolled_to: int, who: str | None) -> Event:
    """Make `version` (the champion a drill started from) champion again after the drill's
    rollback to `rolled_to` failed and the gate did not restore it: recorded as a `rollback`
    event to `version`, so the chain of champions ends with it again. Only a drill's own
    rollback is undone: `RegistryError` when the champion is no longer `rolled_to` (someone
    moved it meanwhile) or `version` cannot load.

    No gate: `version` is what the servers served before the drill (and, when the rollback
    failed, still serve); leaving the registry on a champion the servers cannot serve would
    be worse than any gate verdict.
    """
    from keel.registry.promotion import _move_champion

    who = user(who)
    store = connect(ref)
    with translated(store.uri), store.locked():
        client = store.client
        current = aliases(store).get(CHAMPION)
        if current != rolled_to:
            raise RegistryError(
                f"the champion is version {current}, not version {rolled_to} the drill rolled "
                f"back to: someone changed it meanwhile, so the drill leaves it"
            )
        load_version(store, find_version(store, version))  # a corrupt artefact changes nothing
        audit = store.experiment(f"keel/{store.model}/audit")
        events = read_events(client, audit)
        event = Event(
            seq=events[0].seq + 1 if events else 1,
            kind="rollback",
            version=version,
            previous=current,
            champion=version,
            who=who,
            when=now(),
            reason=UNDO_REASON,
        )
        _move_champion(store, audit, event, current)
        return event


def record_drill(
    ref: RegistryRef,
    result: dict[str, Any],
    *,
    version: int,
    previous: int,
    who: str | None = None,
    reason: str | None = "rollback drill",
) -> Event:
    """Record a drill's result as a `drill` event (under the registry lock, numbered after
    the newest event): rolled back from `previous` to `version`; `champion` is read now."""
    who = user(who)
    store = connect(ref)
    with translated(store.uri), store.locked():
        client = store.client
        audit = store.experiment(f"keel/{store.model}/audit")
        events = read_events(client, audit)
        event = Event(
            seq=events[0].seq + 1 if events else 1,
            kind="drill",
            version=version,
            previous=previous,
            champion=aliases(store).get(CHAMPION),
            who=who,
            when=now(),
            reason=reason,
            verdict=result,
        )
        return write_event(client, audit, event)


def drills(ref: RegistryRef) -> list[Event]:
    """Every recorded rollback drill of the model, newest first."""
    return [e for e in history(ref) if e.kind == "drill"]
