"""`keel selftest`: plant each fault on a scratch copy of the user's system and run the check
of its practice on the clean copy and on the faulty one.

1. The system is copied once to a scratch folder (`_copy.make_template`): its keel.toml, data,
   code and tests, and the cache of its last `keel score`, with a registry and a prediction log
   of its own. The trained model is made ready there (reused from the cache when the user's
   is warm: the cache keys do not depend on the folder).
2. The clean runs: each selected practice's check on a clone of the template (once per distinct
   `setup` of its faults, the setup run first).
3. The faulty runs: a clone per fault, `setup` then `plant`, then only that practice's check.
   A fault whose practice's check does not pass on the clean copy is planted (to learn whether
   it applies) but not checked: there is nothing to compare.
   Faults whose setup is costly (a champion, a real server's traffic, late labels, a canary and
   a drill) and whose catalogue names an order for it (`IN_TURN`: {setup: [practice, ...]})
   are planted in turn on one set-up copy instead: for each, its check runs on the copy as it
   is (the clean run, which must pass), then the fault is planted and the check runs again.
   The order keeps every later check passing before its own fault (the catalogue's tests hold
   it), so each fault still has a clean run taken just before it, and the setup runs once.

Clean and faulty runs go to a pool of `jobs` processes (spawned, each on its own clone).
Each clone reuses the template's cache for whatever its fault did not change. The result is
written to the user's `.keel/selftest.json`, the only thing written outside the scratch folder,
which is removed at the end unless `keep`.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import pickle
import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path

from keel.errors import KeelError
from keel.selftest import _copy
from keel.selftest.fault import Fault, NotApplicable
from keel.selftest.result import CheckRun, FaultResult, SelftestResult, judge, now, plain, write

CATALOGUES = ("faults_data", "faults_model", "faults_infra", "faults_monitor")
# progress(what just finished or started, runs done, runs in all)
Progress = Callable[[str, int, int], None]


def catalogue() -> list[Fault]:
    """Every fault Keel plants, in rubric order (a catalogue module not present is skipped)."""
    faults: list[Fault] = []
    for name in CATALOGUES:
        try:
            module = importlib.import_module(f"keel.selftest.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"keel.selftest.{name}":
                raise
            continue
        faults.extend(module.FAULTS)
    return faults


def select_faults(only: list[str] | None = None) -> list[Fault]:
    """The faults of the practices (data.2) or fault ids (data.2-noise) in `only`, or all."""
    faults = catalogue()
    if not only:
        return faults
    known = {f.practice for f in faults} | {f.id for f in faults}
    unknown = [o for o in only if o not in known]
    if unknown:
        raise KeelError(
            f"--only: no fault planted for {', '.join(unknown)}; selftest plants faults for "
            f"{', '.join(sorted({f.practice for f in faults}, key=_order))}"
        )
    return [f for f in faults if f.practice in only or f.id in only]


def _order(practice: str) -> tuple[int, int]:
    from keel.rubric import PRACTICE_IDS

    return (PRACTICE_IDS.index(practice) if practice in PRACTICE_IDS else 99, 0)


def _setup_id(fault: Fault) -> str:
    if fault.setup is None:
        return ""
    return f"{fault.setup.__module__}.{fault.setup.__qualname__}"


def _find(fault: Fault | str) -> Fault:
    """The fault itself, or the catalogue's fault of that id (what a process was sent)."""
    return fault if isinstance(fault, Fault) else next(f for f in catalogue() if f.id == fault)


def _sendable(fault: Fault) -> Fault | str:
    """The fault, when it can be sent to a process as it is, else its id in the catalogue."""
    try:
        pickle.dumps(fault)
    except Exception:  # noqa: BLE001 - a lambda or closure: the process looks it up by id
        return fault.id
    return fault


def _check(copy: _copy.Copy, practice: str) -> CheckRun:
    """Run one practice's check on a copy (its evidence reused when nothing it reads changed)."""
    from keel.checks.runner import cached_check
    from keel.selftest._plant import system

    start = time.perf_counter()
    try:
        evidence = cached_check(system(copy), practice)
    except KeelError as exc:  # the copy cannot even be loaded: the check could not run
        return CheckRun("error", str(exc), {}, time.perf_counter() - start)
    return CheckRun(
        evidence.status, evidence.summary, plain(evidence.facts), time.perf_counter() - start
    )


def _worker() -> None:
    """A pool process's setting: one core's worth of threads (`jobs` processes share the
    machine), and no GIT_* variable (a git hook's GIT_DIR would point model.1's git at the
    user's repository instead of the copy's own)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    for name in [n for n in os.environ if n.startswith("GIT_")]:
        del os.environ[name]


def clean_task(
    template: str, dest: str, with_setup: Fault | str | None, practices: list[str]
) -> dict:
    """In a pool process: the practices' checks on a clean clone, after the setup of the
    fault `with_setup`, if any."""
    _worker()
    copy = _copy.clone(_copy.copy_at(Path(template)), Path(dest))
    fault = None if with_setup is None else _find(with_setup)
    try:
        if fault is not None and fault.setup is not None:
            fault.setup(copy)
    except NotApplicable as exc:
        return {p: CheckRun("not_configured", f"setup not applicable: {exc}") for p in practices}
    except Exception as exc:  # a setup that breaks: every check of the group is unproven
        why = f"the setup failed: {type(exc).__name__}: {exc}"
        return {p: CheckRun("error", why) for p in practices}
    return {p: _check(copy, p) for p in practices}


def in_turn(setup: Callable) -> list[str] | None:
    """The order in which the faults of `setup` may be planted in turn on one copy (the
    catalogue module's `IN_TURN`), or None."""
    module = importlib.import_module(setup.__module__)
    order = getattr(module, "IN_TURN", {}).get(setup.__name__)
    return list(order) if order else None


def turn_task(template: str, dest: str, sent: list[Fault | str]) -> dict:
    """In a pool process: one clone, the faults' shared setup once, then for each fault in
    order its clean check, its plant and its faulty check. {fault id: (clean, outcome)}."""
    _worker()
    faults = [_find(f) for f in sent]
    copy = _copy.clone(_copy.copy_at(Path(template)), Path(dest))
    out: dict[str, tuple[CheckRun, dict]] = {}
    try:
        faults[0].setup(copy)  # type: ignore[misc]
    except NotApplicable as exc:
        for fault in faults:
            out[fault.id] = (
                CheckRun("not_configured", f"setup not applicable: {exc}"),
                {"not_applicable": str(exc)},
            )
        return out
    except Exception as exc:  # a setup that breaks: every fault of the group is unproven
        why = f"the setup failed: {type(exc).__name__}: {exc}"
        return {f.id: (CheckRun("error", why), {"faulty": None}) for f in faults}
    for fault in faults:
        clean = _check(copy, fault.practice)
        if clean.status not in ("pass", "attested"):
            out[fault.id] = (clean, {"faulty": None, "notes": plain(copy.notes)})
            continue
        start = time.perf_counter()
        try:
            fault.plant(copy)
        except NotApplicable as exc:
            out[fault.id] = (clean, {"not_applicable": str(exc), "notes": plain(copy.notes)})
            continue
        except Exception as exc:  # noqa: BLE001 - reported as this fault's error
            why = f"planting failed: {type(exc).__name__}: {exc}"
            out[fault.id] = (clean, {"faulty": CheckRun("error", why)})
            continue
        faulty = _check(copy, fault.practice)
        faulty.seconds += time.perf_counter() - start
        out[fault.id] = (clean, {"faulty": faulty, "notes": plain(copy.notes)})
    return out


def fault_task(template: str, dest: str, sent: Fault | str, check: bool) -> dict:
    """In a pool process: plant one fault on a clone and (when `check`) run its check."""
    _worker()
    fault = _find(sent)
    copy = _copy.clone(_copy.copy_at(Path(template)), Path(dest))
    start = time.perf_counter()
    try:
        if fault.setup is not None:
            fault.setup(copy)
        fault.plant(copy)
    except NotApplicable as exc:
        return {"not_applicable": str(exc), "notes": plain(copy.notes)}
    except Exception as exc:  # the fault could not be planted: say so, as an error
        why = f"planting failed: {type(exc).__name__}: {exc}"
        return {"faulty": CheckRun("error", why), "notes": plain(copy.notes)}
    planted = time.perf_counter() - start
    faulty = _check(copy, fault.practice) if check else None
    if faulty is not None:
        faulty.seconds += planted
    return {"faulty": faulty, "notes": plain(copy.notes)}


def run_selftest(
    path: str | Path = ".",
    only: list[str] | None = None,
    jobs: int = 2,
    progress: Progress | None = None,
    *,
    keep: bool = False,
    faults: list[Fault] | None = None,
) -> SelftestResult:
    """Prove each selected practice's check on the system at `path` (see the module docstring).

    `only`: practices or fault ids to prove (default: every fault of the catalogue); `faults`:
    other faults to plant instead of the catalogue's (their functions defined at module level,
    so a spawned process can import them). `keep` leaves the scratch folder in place.
    """
    from keel import __version__
    from keel.git import head_commit
    from keel.system import System

    if jobs < 1:
        raise KeelError(f"--jobs {jobs}: expected at least 1 process")
    faults = select_faults(only) if faults is None else faults
    started, clock = now(), time.perf_counter()
    user = System.from_path(path, use_cache=False)  # read only: the user's cache is not written
    user_key = user.key
    scratch = Path(tempfile.mkdtemp(prefix="keel-selftest-"))
    try:
        if progress:
            progress("copying the system, reading the data, training the model", 0, 0)
        config_file = Path(user.config_file or user.root / "keel.toml")
        template = _copy.make_template(config_file, scratch / "template")
        copied = System.from_path(template.config_file)
        copied.preflight(train=True)  # trains once here, or reuses the user's cached model
        results = _run_all(template.root, scratch, faults, jobs, progress)
    except BaseException:
        if not keep:
            shutil.rmtree(scratch, ignore_errors=True)
        raise
    result = SelftestResult(
        system=user.name,
        root=str(user.root),
        system_key=user_key,
        git_commit=head_commit(user.root),
        keel_version=__version__,
        started_at=started,
        duration_s=time.perf_counter() - clock,
        jobs=jobs,
        faults=results,
        scratch=str(scratch) if keep else None,
    )
    if not keep:
        shutil.rmtree(scratch, ignore_errors=True)
    write(result, user.keel_dir)
    return result


def _run_all(
    template: Path, scratch: Path, faults: list[Fault], jobs: int, progress: Progress | None
) -> list[FaultResult]:
    """Clean runs first; each fault as soon as the clean run of its practice is known."""
    clean: dict[tuple[str, str], CheckRun] = {}  # (setup, practice) -> the clean run
    outcome: dict[str, dict] = {}
    turns: dict[str, list[Fault]] = {}  # setup -> its faults planted in turn, in order
    rest: list[Fault] = []
    for fault in faults:
        order = in_turn(fault.setup) if fault.setup is not None else None
        if order is not None and fault.practice in order:
            turns.setdefault(_setup_id(fault), []).append(fault)
        else:
            rest.append(fault)
    for members in turns.values():
        order = in_turn(members[0].setup) or []  # type: ignore[arg-type]
        members.sort(key=lambda f, order=order: order.index(f.practice))
    groups: dict[tuple[str, str], list[Fault]] = {}
    for fault in rest:
        setup = _setup_id(fault)
        # without a setup each practice's clean run is a task of its own (they run in parallel)
        groups.setdefault((setup, "" if setup else fault.practice), []).append(fault)
    total = len(groups) + len(rest) + len(turns)
    done = 0
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        pending: dict[Future, tuple[str, object]] = {}
        for n, (setup, members) in enumerate(turns.items()):  # the longest tasks first
            dest = str(scratch / f"turn-{n}")
            sent = [_sendable(f) for f in members]
            pending[pool.submit(turn_task, str(template), dest, sent)] = ("turn", (setup, members))
        for n, ((setup, _), members) in enumerate(groups.items()):
            practices = list(dict.fromkeys(f.practice for f in members))
            dest = str(scratch / f"clean-{n}")
            with_setup = _sendable(members[0]) if setup else None
            future = pool.submit(clean_task, str(template), dest, with_setup, practices)
            pending[future] = ("clean", (setup, members))
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                kind, what = pending.pop(future)
                done += 1
                if kind == "clean":
                    setup, members = what  # type: ignore[misc]
                    runs: dict[str, CheckRun] = future.result()
                    for practice, run in runs.items():
                        clean[(setup, practice)] = run
                    for fault in members:
                        run = clean[(setup, fault.practice)]
                        check = run.status in ("pass", "attested")
                        dest = str(scratch / f"fault-{fault.id}")
                        sent = _sendable(fault)
                        f = pool.submit(fault_task, str(template), dest, sent, check)
                        pending[f] = ("fault", fault)
                    label = ", ".join(runs) + " clean"
                elif kind == "turn":
                    setup, members = what  # type: ignore[misc]
                    for fault_id, (run, found) in future.result().items():
                        fault = next(f for f in members if f.id == fault_id)
                        clean[(setup, fault.practice)] = run
                        outcome[fault_id] = found
                    label = ", ".join(f.practice for f in members) + " in turn"
                else:
                    fault = what  # type: ignore[assignment]
                    outcome[fault.id] = future.result()  # type: ignore[union-attr]
                    label = f"{fault.practice} {fault.name}"  # type: ignore[union-attr]
                if progress:
                    progress(label, done, total)
    return [_verdict(f, clean[(_setup_id(f), f.practice)], outcome[f.id]) for f in faults]


def _verdict(fault: Fault, clean: CheckRun, found: dict) -> FaultResult:
    faulty: CheckRun | None = found.get("faulty")
    why = None
    if fault.why_weak is not None and faulty is not None and faulty.status != "fail":
        try:
            why = fault.why_weak(clean.facts, faulty.facts)
        except Exception:  # noqa: BLE001 - a reason is a nicety, never a failure
            why = None
    verdict, reason = judge(clean, faulty, not_applicable=found.get("not_applicable"), why_weak=why)
    return FaultResult(
        practice=fault.practice,
        fault=fault.name,
        key=fault.id,
        verdict=verdict,
        reason=reason,
        clean=clean,
        faulty=faulty,
        planted=found.get("notes", {}),
        seconds=(clean.seconds if clean else 0.0) + (faulty.seconds if faulty else 0.0),
    )
