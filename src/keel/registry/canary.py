"""The registry side of a canary: which version takes which share of live traffic, and its end.

A canary is two facts on the registered model, both read by every running server on its next
poll: the alias `candidate` names the version, and the tag `keel.canary` holds the share of
example ids routed to it and when it started. Starting and ending one are audit events
(`canary-start`, then `canary-pass` or `canary-abort` with the comparison that decided it), so
infra.6 can tell whether the serving champion came through a successful canary. A pass does not
promote by itself: the promotion goes through the gate (`keel.registry.promotion.promote`).
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import Any

from keel.errors import RegistryError
from keel.registry._who import now, user
from keel.registry.audit import Event, read_events, write_event
from keel.registry.ref import RegistryRef
from keel.registry.store import connect, translated
from keel.registry.versions import CHAMPION, aliases, find_version, load_version, registered

__all__ = ["CANARY_TAG", "CanaryState", "end_canary", "read_canary", "start_canary"]

CANDIDATE = "candidate"
CANARY_TAG = "keel.canary"


@dataclass(frozen=True)
class CanaryState:
    """A running canary: the candidate version, its share of traffic, since when, by whom."""

    version: int
    share: float
    champion: int
    started: str
    who: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "share": self.share,
            "champion": self.champion,
            "started": self.started,
            "who": self.who,
        }


def read_canary(tags: dict[str, str]) -> CanaryState | None:
    """The canary a registered model's tags describe, or None (none, or an unreadable tag)."""
    text = tags.get(CANARY_TAG)
    if not text:
        return None
    try:
        data = json.loads(text)
        share = float(data["share"])
        state = CanaryState(
            version=int(data["version"]),
            share=share,
            champion=int(data["champion"]),
            started=str(data["started"]),
            who=str(data.get("who", "")),
        )
    except (ValueError, KeyError, TypeError):
        return None
    return state if 0 < share < 1 else None


def current_canary(ref: RegistryRef) -> CanaryState | None:
    """The canary running on `ref`'s model (its candidate alias and tag agree), or None."""
    store = connect(ref)
    with translated(store.uri):
        model = registered(store)
    if model is None:
        return None
    state = read_canary(model.tags or {})
    named = {a: int(v) for a, v in (model.aliases or {}).items()}
    if state is None or named.get(CANDIDATE) != state.version:
        return None
    return state


def start_canary(
    ref: RegistryRef,
    version: int | str,
    share: float,
    *,
    who: str | None = None,
    reason: str | None = None,
) -> CanaryState:
    """Route `share` of live traffic to `version` beside the champion, from the servers' next
    poll. The version's artefact must load; one canary at a time."""
    if not 0 < share < 1:
        raise RegistryError(f"the canary share must be between 0 and 1 (exclusive), got {share}")
    who = user(who)
    store = connect(ref)
    with translated(store.uri), store.locked():
        client = store.client
        mv = find_version(store, version)
        number = int(mv.version)
        named = aliases(store)
        champion = named.get(CHAMPION)
        if champion is None:
            raise RegistryError(
                f"'{store.model}' has no champion to compare a canary with: promote a first "
                "version with `keel promote VERSION`"
            )
        if champion == number:
            raise RegistryError(f"version {number} is the champion already")
        model = registered(store)
        running = read_canary((model.tags or {}) if model is not None else {})
        if running is not None and named.get(CANDIDATE) == running.version:
            raise RegistryError(
                f"a canary of version {running.version} is running since {running.started}: "
                "end it first with `keel canary abort` (or let `keel canary status --decide` "
                "decide it)"
            )
        load_version(store, mv)  # a version that cannot load never takes traffic
        state = CanaryState(number, float(share), champion, now(), who)
        audit = store.experiment(f"keel/{store.model}/audit")
        events = read_events(client, audit)
        event = Event(
            seq=events[0].seq + 1 if events else 1,
            kind="canary-start",  # type: ignore[arg-type]
            version=number,
            previous=champion,
            champion=champion,
            who=who,
            when=state.started,
            reason=(reason or "").strip() or None,
            verdict={"share": float(share)},
        )
        client.set_registered_model_tag(store.model, CANARY_TAG, json.dumps(state.to_dict()))
        client.set_registered_model_alias(store.model, CANDIDATE, str(number))
        try:
            write_event(client, audit, event)
        except BaseException:
            clear_canary(client, store.model)
            raise
        return state


def clear_canary(client: Any, model: str) -> None:
    """Remove the candidate alias and the canary tag (what is not there is fine)."""
    from mlflow.exceptions import MlflowException

    for undo in (
        lambda: client.delete_registered_model_alias(model, CANDIDATE),
        lambda: client.delete_registered_model_tag(model, CANARY_TAG),
    ):
        with contextlib.suppress(MlflowException):
            undo()


def end_canary(
    ref: RegistryRef,
    passed: bool,
    comparison: dict[str, Any],
    *,
    who: str | None = None,
    reason: str | None = None,
) -> Event:
    """End the running canary: traffic goes back to the champion alone, and the verdict
    (`canary-pass` or `canary-abort`, with the comparison that decided it) is recorded."""
    who = user(who)
    store = connect(ref)
    with translated(store.uri), store.locked():
        client = store.client
        model = registered(store)
        state = read_canary((model.tags or {}) if model is not None else {})
        named = aliases(store)
        if state is None or named.get(CANDIDATE) != state.version:
            raise RegistryError(
                f"no canary is running on '{store.model}': start one with "
                "`keel canary start VERSION --share 0.1`"
            )
        audit = store.experiment(f"keel/{store.model}/audit")
        events = read_events(client, audit)
        event = Event(
            seq=events[0].seq + 1 if events else 1,
            kind="canary-pass" if passed else "canary-abort",  # type: ignore[arg-type]
            version=state.version,
            previous=named.get(CHAMPION),
            champion=named.get(CHAMPION),
            who=who,
            when=now(),
            reason=(reason or "").strip() or None,
            verdict={**comparison, "canary": state.to_dict()},
        )
        write_event(client, audit, event)
        clear_canary(client, store.model)
        return event
