"""The models a server serves, following the registry live.

A server serves the version the registry's `champion` alias names (and, during a canary, the
one `candidate` names). `ModelHolder` loads them through the light model artefact, warms each
with a prediction before it serves, and polls the aliases: when one moves (`keel promote`,
`keel rollback`, a canary), the new version is loaded and warmed in the background while the
old one keeps serving, then swapped in with one assignment. A request reads the holder's
`Serving` snapshot once and uses it to the end, so no request sees half a swap and none fails
because of one. A version that cannot be loaded or warmed, for whatever reason, is reported
(`errors`, `problem`, and on stderr) while the old one keeps serving; the next poll tries it
again, and the following never stops.
"""

from __future__ import annotations

import gc
import hashlib
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from keel.errors import RegistryError
from keel.registry.ref import RegistryRef

CHAMPION = "champion"
CANDIDATE = "candidate"


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: one per load
class Loaded:
    """One loaded, warmed model version."""

    version: int
    model: Any  # an MLflow pyfunc model: raw rows in, a frame of predictions out
    loaded_at: float


ROUTE_CHAMPION = "champion"
ROUTE_CANARY = "canary"


def bucket(key: str) -> float:
    """Where `key` falls in [0, 1): the same for the same key in every process and run."""
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


@dataclass(frozen=True)
class Serving:
    """What serves right now: the champion, and a candidate during a canary.

    `share` is the share of example ids routed to the candidate (0 outside a canary): an id
    always lands on the same side while the share stays, in every worker and every server.
    """

    champion: Loaded
    candidate: Loaded | None = None
    share: float = 0.0

    def route(self, key: str) -> tuple[Loaded, str]:
        """The model serving the example keyed `key`, and its route ("champion" or "canary")."""
        if self.candidate is not None and self.share > 0 and bucket(key) < self.share:
            return self.candidate, ROUTE_CANARY
        return self.champion, ROUTE_CHAMPION


def _no_share() -> float:
    return 0.0


@dataclass
class _Registry:
    """The registry calls the holder makes, replaceable in one place (tests count them).

    `share` answers the canary share read by the latest `aliases` call (one registry read per
    poll serves both).
    """

    aliases: Callable[[], dict[str, int]]
    load: Callable[[int], Any]
    share: Callable[[], float] = _no_share


def registry_calls(ref: RegistryRef) -> _Registry:
    """The aliases and loading of `ref`'s registered model, through keel.registry."""
    from keel.registry.canary import read_canary
    from keel.registry.store import connect, translated
    from keel.registry.versions import find_version, load_version, registered

    last_share = [0.0]
    opened: list[Any] = []  # the store of the last poll that worked, reused by the next one

    def current() -> dict[str, int]:
        # connecting probes the registry (two queries besides the poll's own): once, not
        # every poll_seconds in every worker; a poll that fails connects afresh next time
        store = opened[0] if opened else connect(ref)
        try:
            with translated(store.uri):
                model = registered(store)
        except Exception:
            opened.clear()
            raise
        opened[:] = [store]
        if model is None:
            return {}
        named = {a: int(v) for a, v in (model.aliases or {}).items()}
        canary = read_canary(model.tags or {})
        on = canary is not None and named.get(CANDIDATE) == canary.version
        last_share[0] = canary.share if on else 0.0
        return named

    def load(version: int) -> Any:
        store = connect(ref)
        with translated(store.uri):
            return load_version(store, find_version(store, version))

    return _Registry(current, load, lambda: last_share[0])


@dataclass(frozen=True)
class LoadProblem:
    """A version the registry names that this server could not load or warm."""

    alias: str  # "champion" or "candidate"
    version: int
    message: str
    since: float  # when it first failed (time.time())
    tries: int


@dataclass
class ModelHolder:
    """The champion (and candidate) of a registered model, kept current by `poll`.

    `warm` holds raw rows (the evaluation data's first rows) each new version predicts
    before it serves (its first real request then pays no loading cost), and on which it
    checks that the labels its probabilities give are exactly its `predict` (then it serves
    with one pipeline pass per call; `passes`); without them a version serves as soon as it
    loads, with two passes per call for a classifier.
    """

    registry: _Registry
    warm: pd.DataFrame | None = None
    errors: list[str] = field(default_factory=list)  # the newest 100 problems, oldest first
    swaps: int = 0
    failures: int = 0  # polls that could not load what the registry names
    problem: LoadProblem | None = None  # what the registry names and this server cannot serve
    say: Callable[[str], None] | None = None  # where problems are reported (stderr)
    _serving: Serving | None = None
    _said: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Serving:
        """Load what the aliases name now; `RegistryError` when nothing is champion."""
        named = self.registry.aliases()
        if CHAMPION not in named:
            raise RegistryError(
                "no version is champion yet: register one with `keel train`, then "
                "`keel promote VERSION`"
            )
        champion = self._load(named[CHAMPION])
        candidate = self._load(named[CANDIDATE]) if CANDIDATE in named else None
        self._serving = Serving(champion, candidate, self._share(candidate))
        return self._serving

    def _share(self, candidate: Loaded | None) -> float:
        return self.registry.share() if candidate is not None else 0.0

    @property
    def serving(self) -> Serving:
        """The snapshot a request uses from start to end."""
        if self._serving is None:
            raise RegistryError("the models are not loaded yet: call start() first")
        return self._serving

    def _load(self, version: int) -> Loaded:
        model = self.registry.load(version)
        if self.warm is not None and len(self.warm):
            model.predict(self.warm)
            keel_model = _keel_model(model)
            if keel_model is not None:
                keel_model.check_one_pass(self.warm)
        return Loaded(version, model, time.time())

    def poll(self) -> bool:
        """Follow the aliases once: load and warm what moved, then swap it in. True when
        something changed. Anything that goes wrong (the registry unreachable, a version that
        cannot load or predict its warm-up rows) is recorded in `errors` and `problem`; the
        models serving keep serving, and the next poll tries again."""
        with self._lock:  # one poll at a time: two would load the same version twice
            now = self.serving
            try:
                named = self.registry.aliases()
            except Exception as exc:  # the registry may be down: keep serving, try again
                self._report(None, exc)
                return False
            champion, candidate = now.champion, now.candidate
            failed = False
            wanted = named.get(CHAMPION)
            if wanted is not None and wanted != champion.version:
                try:
                    champion = self._reuse(wanted, now)
                except Exception as exc:  # cannot serve: report, keep the loaded champion
                    self._report((CHAMPION, wanted), exc)
                    failed = True
            wanted = named.get(CANDIDATE)
            if wanted is None:
                candidate = None
            elif candidate is None or candidate.version != wanted:
                try:
                    candidate = self._reuse(wanted, now)
                except Exception as exc:  # no canary rather than a canary that cannot serve
                    self._report((CANDIDATE, wanted), exc)
                    candidate, failed = None, True
            if not failed:
                self.problem = None
            share = self._share(candidate)
            if champion is now.champion and candidate is now.candidate and share == now.share:
                return False
            self._serving = Serving(champion, candidate, share)  # one assignment: the swap
            self.swaps += 1
            return True

    def _report(self, what: tuple[str, int | None] | None, exc: BaseException) -> None:
        first = (str(exc).splitlines() or [""])[0]
        if what is None:
            message = f"the registry cannot be read: {type(exc).__name__}: {first}"
        else:
            message = (
                f"version {what[1]} ({what[0]} in the registry) cannot serve here: "
                f"{type(exc).__name__}: {first}; still serving the loaded versions"
            )
        self.failures += 1
        self.errors.append(message)
        del self.errors[:-100]
        if what is not None:
            alias, version = what
            old = self.problem
            same = old is not None and (old.alias, old.version) == (alias, version)
            self.problem = LoadProblem(
                alias,
                int(version or 0),
                message,
                old.since if same else time.time(),
                old.tries + 1 if same else 1,
            )
        if message != self._said:  # said once; /ready, /health and /metrics keep telling
            self._said = message
            (self.say or _stderr)(f"keel serve: {message}")

    def _reuse(self, version: int, now: Serving) -> Loaded:
        """The loaded model of `version` if it serves already (a promoted candidate, a
        rolled-back champion that is still the candidate), else a fresh load."""
        for loaded in (now.champion, now.candidate):
            if loaded is not None and loaded.version == version:
                return loaded
        return self._load(version)

    def follow(self, stop: threading.Event, every: float) -> threading.Thread:
        """Poll every `every` seconds in a daemon thread until `stop` is set. The thread
        outlives anything a poll raises."""

        def loop() -> None:
            while not stop.wait(every):
                try:
                    if self.poll() and gc.get_freeze_count():
                        refreeze()
                except BaseException as exc:  # noqa: BLE001 (never let the follower die)
                    self._report(None, exc)

        thread = threading.Thread(target=loop, name="keel-follow-registry", daemon=True)
        thread.start()
        return thread


def refreeze() -> None:
    """A server process keeps what it loaded out of the garbage collector's passes (frozen, so
    a full collection during serving walks only the requests' objects); after a swap the new
    model is frozen too, and what the old one left in cycles is collected."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def _keel_model(model: Any) -> Any:
    """The Keel model inside a loaded pyfunc model (None for another kind of model)."""
    unwrap = getattr(model, "unwrap_python_model", None)
    inner = unwrap() if unwrap is not None else None
    return inner if hasattr(inner, "check_one_pass") else None


def passes(loaded: Loaded) -> int:
    """Pipeline passes per model call of `loaded`: 1 when its labels are taken from its
    probabilities (checked at load), else 2 for a classifier, 1 for a regressor."""
    model = _keel_model(loaded.model)
    if model is None:
        return 2
    if model.classes is None or model.one_pass:
        return 1
    return 2


def _stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
