"""`apply` as a function: lock, plan, run the executor against JoggAI or the sandbox."""

from __future__ import annotations

import contextlib
import gc
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..api import DEFAULT_BASES, PostBudget, client_class, generation, resolve_base
from ..api.budget import Waits
from ..api.errors import ApiError, Cancelled, InsufficientCredit
from ..api.generations import is_loopback
from ..engine import planner
from ..engine.events import Emit
from ..engine.executor import POLLERS, Executor, Options, Outcome, is_ok, settled, shown_render
from ..engine.previews import Previewer
from ..engine.previews import settled as preview_settled
from ..errors import OUT_OF_TIME, JoggFlowError, LockedError, UsageError
from ..manifest import load_manifest
from ..manifest.model import Manifest
from ..manifest.templating import SECRET_ENV
from ..state import Record, Store, describe, describe_location, edits, identity, is_postgres
from ..state import load as load_state
from ..state import locked as locked_state
from ..state.status import OK_STATUSES, Status
from ..ui.report import counted
from .scope import (
    Scope,
    check_selection,
    feed_digests,
    rerender_rule,
    state_name,
    state_path_for,
    target_identity,
    unlock_command,
)

if TYPE_CHECKING:  # the HTTP stack loads only when a client is made, the sandbox when it runs
    from ..api.http import HttpClient, Preflight
    from ..sandbox import Config

SANDBOX_SCALE = planner.SANDBOX_SCALE  # the in-process sandbox: a 3-minute render takes 3 s
MIN_POLL = 5.0  # JoggAI: "never poll faster than every 5 seconds"


def _is_joggai(base: str) -> bool:
    host = urlsplit(base).hostname or ""
    return host == "jogg.ai" or host.endswith(".jogg.ai")


@dataclass
class Applied:
    """What `apply` did: the plan, one outcome per video, and the exit code it earns."""

    manifest: Manifest
    items: list[planner.PlanItem]
    outcomes: list[Outcome]
    exit_code: int
    requests: int = 0
    stopped_by: str = ""
    preflight: Preflight | None = None  # the account and credits read before the first POST
    out_of_time: bool = False  # --max-duration ended it; `remaining` videos wait for the next
    adopted: int = 0  # needs-check videos whose render this run's read showed
    rerendered_unseen: int = 0  # needs-check videos rendered again (--rerender-unseen-after)

    @property
    def remaining(self) -> int:
        """Videos this run left for the next one (not yet rendered, or still rendering)."""
        return sum(1 for o in self.outcomes if o.status in (Status.PENDING, Status.RENDERING,
                                                            Status.QUEUED, Status.SUBMITTING))
    credits_estimated: int = 0  # the plan's estimate

    @property
    def credits_charged(self) -> float | None:
        """What JoggAI says it deducted for this run's renders (v2's `deducted_credit`);
        None when it said nothing for any of them (v1, open)."""
        charged = [o.credits for o in self.outcomes if o.credits is not None]
        return sum(charged) if charged else None


@dataclass(frozen=True)
class Proposal:
    """What a run is about to do, as planned under the state's lock: handed to `confirm`
    before anything is sent, so the plan approved is the plan run."""

    manifest: Manifest
    items: list[planner.PlanItem]
    estimate: planner.Estimate
    rate: tuple[int, float]  # the POST budget the run will keep
    records: Mapping[str, Mapping[str, Any]]  # the state as read under the lock
    identity: Mapping[str, Any] | None  # the API the state records
    target: Mapping[str, Any]  # the API this run talks to
    where: str  # the state's location as messages name it (no password)
    shown: str = ""  # what the question shows in place of the plan (`preview`'s own plan)
    question: str = ""  # the question, where not apply's

    @property
    def spends(self) -> bool:
        """Whether the run would POST (create, update or render) anything."""
        return self.estimate.posts > 0


# Approve a proposal (True) or not; it may raise a JoggFlowError of its own.
Confirm = Callable[[Proposal], bool]


class NotApproved(JoggFlowError):
    """The plan was not approved: nothing was sent (exit 1, or 130 for Ctrl-C)."""

    def __init__(self, exit_code: int = 1) -> None:
        super().__init__("Apply cancelled; nothing was sent.")
        self.exit_code = exit_code


@dataclass
class ApplySettings:
    """How `apply` runs (its scope aside); None means the default (scaled when using the sandbox)."""

    post_rate: tuple[int, float] | None = None
    parallelism: int = 4
    poll_interval: float | None = None
    poll_max: float | None = None
    timeout: float = 1800.0
    request_timeout: float = 30.0
    download: str | None = None
    wait: bool = True
    sandbox_config: Config | None = None
    allow_http: bool = False  # send the key over plain http to a non-loopback host (a proxy)
    allow_partial: bool = False  # start even when the credit left does not cover the plan
    max_duration: float | None = None  # seconds the whole run may take (--max-duration)
    max_credits: int | None = None  # refuse a plan estimated above it; stop submitting at it
    lock_timeout: float = 0.0  # how long to wait for a lock another run holds (--lock-timeout)
    on_lock_wait: Callable[[str], None] | None = None  # hears once that the run waits for the lock
    waits: Waits | None = None  # what the run waits for now, for the heartbeat to say


class OverCap(JoggFlowError):
    """`--max-credits`: the plan would spend more; nothing was sent."""

    exit_code = 1


def apply(scope: Scope, settings: ApplySettings | None = None, *, emit: Emit = lambda e: None,
          stop: threading.Event | None = None, confirm: Confirm | None = None) -> Applied:
    """Bring every selected video to its manifest's settings, resuming unfinished work.
    `confirm` sees the plan made under the lock before anything is sent; if it says no,
    NotApproved is raised and the state is left as it was."""
    cfg = settings or ApplySettings()
    environ = scope.env
    manifest = load_manifest(scope.manifest, environ)
    check_selection(manifest, scope.select)
    location = state_path_for(manifest, scope.state, scope.sandbox)
    name = state_name(manifest, scope.sandbox)
    target = target_identity(manifest, scope.api_base, environ, scope.sandbox)
    with contextlib.ExitStack() as held:
        state = held.enter_context(_locked(location, name, scope, cfg, stop))
        checked = _open_checks(state, target, describe_location(location, name), emit)
        # The manifest's `moved:` renames are planned as done, and done once the plan is approved.
        due = edits.moves_due(state.videos, manifest.moved)
        records = edits.moved_view(state.videos, due) if due else state.videos
        items = planner.plan(manifest.videos, records, scope.select, scope.retry_failed,
                             rerender_rule(scope, manifest))
        for item in items:
            emit(item.as_event())
        est = planner.estimate(items, records, generation(manifest.api_version).shares_products)
        if cfg.max_credits is not None and est.credits > cfg.max_credits:
            raise OverCap(f"this plan needs about {est.credits} credits, over --max-credits "
                          f"{cfg.max_credits}: nothing was sent; narrow it with --select, or raise the cap")
        if confirm is not None and not confirm(
                _proposal(manifest, items, state, target, scope, cfg, describe_location(location, name))):
            raise NotApproved()
        for old, new in due:
            edits.move(state, old, new)
            emit({"event": "warning", "message": f"moved {old} to {new}, as the manifest's moved: "
                  "says (its video kept, no new render)"})
        recheck = generation(manifest.api_version).reads_evidence  # needs-checks read again (free)
        _unreadable_checks(items, manifest.api_version, recheck, emit, scope.rerender_unseen_after)
        if any(i.action in planner.CHANGES or (recheck and i.action == planner.Action.NEEDS_CHECK)
               for i in items):
            bound = LockedState(state, location, describe_location(location, name), checked)
            result = _execute(manifest, items, bound, scope, cfg, emit, stop)
            result.credits_estimated = est.credits
        else:
            state.set_identity(checked)
            outcomes = [settled(i, state.videos.get(i.key)) for i in items]
            for outcome in outcomes:
                emit(outcome.as_event())
            result = Applied(manifest, items, outcomes,
                             0 if all(o.status in OK_STATUSES for o in outcomes) else 1)
            if cfg.download:
                _download(result, state, cfg.download, emit, scope.sandbox)
        if not scope.select and result.exit_code != 130:
            _record_feeds(state, manifest)
    return result


@dataclass
class Previewed:
    """What `preview` did: its plan, one outcome per video, the exit code it earns."""

    manifest: Manifest
    items: list[planner.PreviewItem]
    outcomes: list[Outcome]
    exit_code: int
    estimate: planner.PreviewEstimate
    requests: int = 0
    stopped_by: str = ""
    records: dict[str, Record] = field(default_factory=dict)  # the videos' records after the run
    credits_charged: float | None = None  # what JoggAI says this run's previews cost, where it says


@contextlib.contextmanager
def _locked(location: str, name: str, scope: Scope, cfg: ApplySettings,
            stop: threading.Event | None) -> Iterator[Store]:
    """The state, locked for this run: waiting up to `--lock-timeout` for another run's lock
    (saying so once), or refused at once with the command that removes a stale one."""
    with contextlib.ExitStack() as held:
        try:
            state = held.enter_context(locked_state(location, name, wait=cfg.lock_timeout, stop=stop,
                                                    unlock=unlock_command(scope), on_wait=cfg.on_lock_wait))
        except LockedError:
            if stop is not None and stop.is_set():  # Ctrl-C while waiting for the lock
                raise NotApproved(130) from None
            raise
        yield state


def preview(scope: Scope, settings: ApplySettings | None = None, *, emit: Emit = lambda e: None,
            stop: threading.Event | None = None, confirm: Confirm | None = None) -> Previewed:
    """Preview the styles each selected video lists in `render.preview_styles` (v2): one
    POST per video whose preview inputs changed, its product made first as `apply` makes
    it; then collect the previews. An unchanged manifest sends nothing."""
    cfg = settings or ApplySettings()
    manifest = load_manifest(scope.manifest, scope.env)
    check_selection(manifest, scope.select)
    api = generation(manifest.api_version)
    if not api.previews:
        raise UsageError(f"api.version {manifest.api_version} has no previews of several styles in one "
                         "request: JoggAI's v2 has (set api.version: v2)")
    location, name = state_path_for(manifest, scope.state, scope.sandbox), state_name(manifest, scope.sandbox)
    target = target_identity(manifest, scope.api_base, scope.env, scope.sandbox)
    with _locked(location, name, scope, cfg, stop) as state:
        where = describe_location(location, name)
        checked = _open_checks(state, target, where, emit)
        items = planner.plan_previews(manifest.videos, state.videos, scope.select, scope.retry_failed)
        if not items:
            raise UsageError(f"no {'selected ' if scope.select else ''}video of {manifest.file} sets "
                             "render.preview_styles: nothing to preview")
        for item in items:
            emit(item.as_event())
        est = planner.estimate_previews(items, api.shares_products, state.videos)
        if cfg.max_credits is not None and est.credits > cfg.max_credits:
            raise OverCap(f"these previews need about {est.credits:g} credits, over --max-credits "
                          f"{cfg.max_credits}: nothing was sent; narrow them with --select, or raise the cap")
        if confirm is not None and not confirm(_preview_proposal(manifest, items, est, state, target, scope,
                                                                 cfg, where)):
            raise NotApproved()
        if not any(i.action in (planner.PreviewAction.SEND, planner.PreviewAction.WAIT) for i in items):
            state.set_identity(checked)
            previewer = None
            outcomes = []
        else:
            bound = LockedState(state, location, where, checked)
            stop = stop if stop is not None else threading.Event()
            _collect_from_here()
            with _session(manifest, bound, scope, cfg, emit, stop) as (client, options):
                if est.posts:
                    found = client.preflight()
                    _record_account(found, bound)
                    if found.credits is not None and found.credits < est.credits and not cfg.allow_partial:
                        raise InsufficientCredit(
                            f"{counted(found.credits, 'credit')} left, these previews need about "
                            f"{est.credits:g}: nothing was sent; top up, or pass --allow-partial", code=18020)
                previewer = Previewer(client, state, options, emit, stop)
                outcomes = previewer.run_previews(items)
                requests = client.requests_made
            if previewer.state_error is not None:
                raise previewer.state_error
        records = {i.key: dict(r) for i in items if (r := state.get(i.key)) is not None}
        if previewer is None:
            outcomes = [preview_settled(item, state.videos.get(item.key)) for item in items]
            for outcome in outcomes:
                emit(outcome.as_event())
            return Previewed(manifest, items, outcomes, 0 if all(o.status in OK_STATUSES for o in outcomes)
                             else 1, est, records=records)
        code = _exit_code(outcomes, previewer, stop)
        return Previewed(manifest, items, outcomes, code, est, requests, previewer.stopped_by(), records,
                         previewer.charged([i.key for i in items]))


def _preview_proposal(manifest: Manifest, items: list[planner.PreviewItem], est: planner.PreviewEstimate,
                      state: Store, target: dict[str, Any], scope: Scope, cfg: ApplySettings,
                      where: str) -> Proposal:
    """The question before previews are paid for: their plan and estimate, said as text."""
    from ..ui.report import preview_text

    scale = (cfg.sandbox_config.time_scale if cfg.sandbox_config else SANDBOX_SCALE) if scope.sandbox else 1.0
    rate = planner.post_rate(cfg.post_rate, manifest.post_rate, scale)
    return Proposal(manifest, [], planner.Estimate(0, 0, est.posts), rate, state.videos, state.identity,
                    target, where, shown=preview_text(items, est, manifest.file),
                    question="Preview these? Only 'yes' is accepted: ")


def _proposal(manifest: Manifest, items: list[planner.PlanItem], state: Store, target: dict[str, Any],
              scope: Scope, cfg: ApplySettings, where: str) -> Proposal:
    scale = (cfg.sandbox_config.time_scale if cfg.sandbox_config else SANDBOX_SCALE) if scope.sandbox else 1.0
    records = edits.moved_view(state.videos, edits.moves_due(state.videos, manifest.moved))
    est = planner.estimate(items, records, generation(manifest.api_version).shares_products)
    return Proposal(manifest, items, est, planner.post_rate(cfg.post_rate, manifest.post_rate, scale),
                    state.videos, state.identity, target, where)


def _unreadable_checks(items: list[planner.PlanItem], version: str, readable: bool, emit: Emit,
                       rerender_after: float | None = None) -> None:
    """Where no read can settle a needs-check (v1), say so once for the run (and that
    `--rerender-unseen-after` cannot apply there)."""
    n = sum(1 for i in items if i.action == planner.Action.NEEDS_CHECK)
    if n and not readable:
        rule = "" if rerender_after is None else \
            " (--rerender-unseen-after does not apply: no read can show it never started)"
        emit({"event": "warning", "message": (
            f"{n} video{'s' if n != 1 else ''} need{'' if n != 1 else 's'} a check: api.version {version} "
            "offers no read that tells whether a render whose answer was lost was accepted; look in "
            f"JoggAI's dashboard, then `jogg-flow state adopt` or `state rerender`{rule}")})


def _record_feeds(state: Store, manifest: Manifest) -> None:
    """Remember each feed's content hash as this run applied it, so `plan` can say when a
    feed changed since (kept beside the state's API identity)."""
    digests = feed_digests(manifest)
    if state.identity is not None and digests and state.identity.get("feeds") != digests:
        state.set_identity({**state.identity, "feeds": digests})


def _open_checks(state: Store, target: dict[str, Any], where: str, emit: Emit) -> dict[str, Any]:
    """Before anything is planned: report repairs, and refuse a state of another API.
    Returns the identity to record once the run gets going (a run that stops at a usage
    error leaves the state as it was)."""
    if state.took_over:
        emit({"event": "warning", "message": f"took over a lock left by {describe(state.took_over)}"})
    for note in state.notes:
        emit({"event": "warning", "message": note})
    return identity.check(state.identity, target, where)


@dataclass
class LockedState:
    """A state under this run's lock, with where it lives and the API it was checked against."""

    store: Store
    location: str
    where: str
    target: dict[str, Any]


def _collect_from_here() -> None:
    """Turn the collector back on for a run of minutes (cli.main paused it for the load),
    with what exists now (the imported modules, the manifest, the state, the plan: about
    70,000 objects that live as long as the run) frozen out of its sight: otherwise its
    first collections walk them all again, some 50 ms of CPU each before the first POST."""
    gc.freeze()
    gc.enable()


def _execute(manifest: Manifest, items: list[planner.PlanItem], bound: LockedState, scope: Scope,
             cfg: ApplySettings, emit: Emit, stop: threading.Event | None) -> Applied:
    _collect_from_here()
    started = time.monotonic()
    state = bound.store
    stop = stop if stop is not None else threading.Event()
    with _session(manifest, bound, scope, cfg, emit, stop) as (client, options):
        found = _preflight(client, items, state, cfg, emit)
        _record_account(found, bound)
        executor = Executor(client, state, options, emit, stop)
        with _max_duration(cfg.max_duration, started, executor, stop, emit) as out_of_time:
            outcomes = executor.run(items)
        if executor.state_error is not None:
            raise executor.state_error
        result = Applied(manifest, items, outcomes, _exit_code(outcomes, executor, stop),
                         client.requests_made, executor.stopped_by(), found,
                         out_of_time=executor.halt_reason != "" or out_of_time.is_set(),
                         adopted=len(executor.adopted), rerendered_unseen=len(executor.rerendered))
        if result.out_of_time and result.remaining:
            result.exit_code = OUT_OF_TIME
        if cfg.download and not (stop and stop.is_set()):
            _download(result, state, cfg.download, emit, scope.sandbox)  # the sandbox still serves
        return result


@contextlib.contextmanager
def _session(manifest: Manifest, bound: LockedState, scope: Scope, cfg: ApplySettings, emit: Emit,
             stop: threading.Event) -> Iterator[tuple[HttpClient, Options]]:
    """The run's client (JoggAI, or the sandbox it starts) and its executor options: the
    polling schedule (never faster than JoggAI allows), the POST budget, the state's
    identity recorded. The client and budget close when the run ends."""
    with _api(manifest.api_version, manifest.base_url, scope, cfg, manifest) as (base, key, scale):
        bound.store.set_identity(bound.target)
        options = Options(parallelism=cfg.parallelism, timeout=cfg.timeout, wait=cfg.wait,
                          poll_interval=cfg.poll_interval or 15.0 / scale,
                          poll_max=cfg.poll_max or 120.0 / scale, max_renders=cfg.max_credits)
        options.media_root = os.path.dirname(os.path.abspath(manifest.file))  # local media
        if _is_joggai(base) and options.poll_interval < MIN_POLL:
            emit({"event": "warning", "message": f"--poll-interval {options.poll_interval:g} is "
                  f"below JoggAI's {MIN_POLL:g} s minimum; using {MIN_POLL:g} s"})
            options.poll_interval = MIN_POLL
            options.poll_max = max(options.poll_max, MIN_POLL)
        rate = cfg.post_rate or manifest.post_rate or (20, 60.0)
        if scale != 1.0 and not cfg.post_rate:
            rate = (rate[0], rate[1] / scale)
        budget = _budget(bound, key, rate, cfg.request_timeout, cfg.waits)
        client = make_client(manifest.api_version, base, key, cfg, budget, stop, emit)
        try:
            yield client, options
        finally:
            client.close()
            if hasattr(budget, "close"):
                budget.close()


@contextlib.contextmanager
def _max_duration(seconds: float | None, started: float, executor: Executor, stop: threading.Event,
                  emit: Emit) -> Iterator[threading.Event]:
    """`--max-duration`: submitting closes when three quarters of it are gone (what is in
    flight is collected meanwhile), and the run stops, state saved, when it is all gone.
    Yields the event set at the end."""
    ended = threading.Event()
    if not seconds:
        yield ended
        return

    def close() -> None:
        emit({"event": "warning", "message": f"--max-duration {seconds:g}s: submitting nothing more; "
              "collecting the renders under way"})
        executor.close_submissions(f"--max-duration {seconds:g}s")

    def end() -> None:
        ended.set()
        stop.set()

    elapsed = time.monotonic() - started
    timers = [threading.Timer(max(0.0, seconds * 0.75 - elapsed), close),
              threading.Timer(max(0.0, seconds - elapsed), end)]
    for timer in timers:
        timer.daemon = True
        timer.start()
    try:
        yield ended
    finally:
        for timer in timers:
            timer.cancel()


def _budget(bound: LockedState, key: str, rate: tuple[int, float], request_timeout: float,
            waits: Waits | None = None) -> Any:
    """The POST budget: in PostgreSQL, shared by every runner using that database with the
    same key; otherwise this process's own."""
    if not is_postgres(bound.location):
        return PostBudget(*rate, waits=waits)
    from ..state.budget_pg import PgPostBudget
    from ..state.postgres import PgStore

    store = bound.store
    assert isinstance(store, PgStore) and store.link is not None
    # On the state's own connection, fenced by its lease. A slot of a runner killed
    # mid-POST expires after the longest a request may take.
    return PgPostBudget(store.link, key, rate[0], rate[1], hold=request_timeout + 5.0 + rate[1],
                        where=f"the POST budget in {bound.where}", waits=waits)


def make_client(version: str, base: str, key: str, cfg: ApplySettings, budget: Any,
                stop: threading.Event, emit: Emit) -> HttpClient:
    """The run's client: its POST budget, its timeouts, waits that wake on `stop`."""
    client = client_class(version)(  # refuses a base that is not an http(s) URL, before any warning
        base, key, budget=budget, pool=cfg.parallelism + POLLERS + 1, stop=stop, rate_patience=cfg.timeout,
        timeout=(min(5.0, cfg.request_timeout), cfg.request_timeout), allow_http=cfg.allow_http,
        on_retry=lambda route, err, delay: emit(
            {"event": "retry", "route": route, "reason": str(err), "delay": round(delay, 3)}))
    host = urlsplit(base).hostname or ""
    documented = urlsplit(DEFAULT_BASES.get(version, "")).hostname
    if host != documented and not is_loopback(host):
        emit({"event": "warning", "message": f"the API key goes to {host}, not JoggAI's "
              f"documented host for api.version {version} ({documented})"})
    return client


def _preflight(client: HttpClient, items: list[planner.PlanItem], state: Store, cfg: ApplySettings,
               emit: Emit) -> Preflight | None:
    """Free GETs before the first POST: a wrong key, a generation not served at this base
    URL or too little credit stops the run before it spends anything."""
    est = planner.estimate(items, state.videos, client.shares_products)
    if not est.posts:
        return None  # only status reads to make: they tell the same by themselves
    try:
        found = client.preflight()
    except Cancelled:
        return None  # stopping already: the executor sends nothing and the run exits 130
    budget = client.budget
    who = f"account {found.account}" if found.account else "key accepted"
    left = f", {counted(found.credits, 'credit')} left" if found.credits is not None else \
        "" if generation(client.version).credit_read else \
        f", credit left unknown (JoggAI documents no credit read for api.version {client.version})"
    emit({"event": "preflight", "account": found.account, "credits": found.credits,
          "renders": est.renders, "credits_needed": est.credits, "posts": est.posts,
          "message": f"{who}{left}; this plan: {counted(est.renders, 'render')} "
                     f"(~{counted(est.credits, 'credit')}), {counted(est.posts, 'POST')} "
                     f"(~{est.post_seconds((budget.limit, budget.window)):g} s of POST budget)"})
    if found.credits is not None and found.credits < est.credits and not cfg.allow_partial:
        raise InsufficientCredit(f"{counted(found.credits, 'credit')} left, this plan needs about "
                                 f"{est.credits}: nothing was sent; top up, or pass "
                                 "--allow-partial to spend what is left", code=18020)
    return found


def _record_account(found: Preflight | None, bound: LockedState) -> None:
    """Record the account the key belongs to, where the API named it (for free) in the
    preflight: a state of another account is refused, a rotated key of the same one is not."""
    if found is not None and found.account:
        target = {**bound.target, "account": found.account}
        bound.store.set_identity(identity.check(bound.store.identity, target, bound.where))


def _download(result: Applied, state: Store, directory: str, emit: Emit, sandbox: bool = False) -> None:
    from ..engine.download import download_all

    keys = [i.key for i in result.items]
    failed = _sandbox_download(state, keys, directory, emit) if sandbox else \
        download_all(state, keys, directory, emit)
    if failed and result.exit_code == 0:
        result.exit_code = 1


def _sandbox_download(state: Store, keys: list[str], directory: str, emit: Emit) -> int:
    """`--download` with `--sandbox`: the sandbox's media, written as --sandbox keeps it (the
    URLs of an earlier run's sandbox died with it). Returns how many files failed."""
    from ..sandbox.media import kept

    failed = 0
    for key in keys:
        record = state.get(key)
        if not record or record.get("status") != Status.SUCCEEDED:
            continue
        try:
            files = kept(directory, key)
        except OSError as err:
            failed += 1
            emit({"event": "download", "key": key, "file": os.path.join(directory, key), "bytes": 0,
                  "status": Status.FAILED, "message": f"cannot write in {directory}: {err.strerror}"})
            continue
        downloads = record.setdefault("downloads", {})
        for kind, (path, size, written) in zip(("video", "cover"), files, strict=False):
            downloads[kind] = {"file": os.path.relpath(path, directory), "bytes": size}
            emit({"event": "download", "key": key, "file": path, "bytes": size,
                  "status": "downloaded" if written else "skipped"})
        state.put(key, record)
    return failed


def _exit_code(outcomes: list[Outcome], executor: Executor, stop: threading.Event | None) -> int:
    if executor.fatal is not None:
        return 1
    if stop is not None and stop.is_set():
        return 130
    return 0 if all(is_ok(o, executor.options.wait) for o in outcomes) else 1


@contextlib.contextmanager
def _api(version: str, manifest_base: str | None, scope: Scope, cfg: ApplySettings,
         keep_for: Manifest | None = None) -> Iterator[tuple[str, str, float]]:
    """(base URL, key, time scale): the in-process sandbox, or JoggAI itself. `keep_for`: the
    manifest whose friendly sandbox (no `sandbox_config`) keeps its records between runs."""
    if scope.sandbox:
        from ..sandbox import Config, Sandbox, saved

        config = cfg.sandbox_config or Config(time_scale=SANDBOX_SCALE)
        with Sandbox(config) as sandbox, contextlib.ExitStack() as keeping:
            if keep_for is not None and cfg.sandbox_config is None:
                at = saved.path_for(keep_for.file, keep_for.name)
                keeping.enter_context(saved.kept(sandbox.backend, at))
            # Never the user's real key, not even to localhost.
            yield sandbox.url, "sandbox-key", config.time_scale
        return
    environ = scope.env
    key = environ.get(SECRET_ENV, "")
    if not key:
        raise UsageError(f"{SECRET_ENV} is not set: export your JoggAI API key, or try "
                         "`--sandbox` to run against the built-in sandbox")
    yield resolve_base(version, scope.api_base, environ, manifest_base), key, 1.0


@dataclass(frozen=True)
class PlanCheck:
    """What `plan --check` read: the preflight, and the needs-check videos whose render
    JoggAI now shows (the next apply adopts them)."""

    preflight: Preflight
    adoptable: list[str]


def check(manifest: Manifest, scope: Scope, records: Mapping[str, Mapping[str, Any]] | None = None,
          settings: ApplySettings | None = None) -> PlanCheck:
    """`plan --check`: the preflight's free GETs (key, generation, credits), then the
    evidence of each needs-check video in `records`, over one client. Nothing is written."""
    cfg = settings or ApplySettings()
    waiting = [k for k, r in (records or {}).items() if r.get("status") == Status.NEEDS_CHECK]
    if not generation(manifest.api_version).reads_evidence:
        waiting = []
    with _api(manifest.api_version, manifest.base_url, scope, cfg) as (base, key, _):
        client = make_client(manifest.api_version, base, key, cfg, PostBudget(20, 60.0),
                             threading.Event(), lambda e: None)
        try:
            found = client.preflight()
            shown = []
            for name in waiting:
                with contextlib.suppress(ApiError):
                    if shown_render(client, dict((records or {})[name])) is not None:
                        shown.append(name)
            return PlanCheck(found, shown)
        finally:
            client.close()


def catalog(kind: str, version: str, scope: Scope, *,
            manifest_base: str | None = None) -> list[dict[str, Any]]:
    """The choices the API offers for a setting: avatars, voices, templates, ..."""
    with _api(version, manifest_base, scope, ApplySettings()) as (base, key, _):
        client = client_class(version)(base, key, retries=2)
        try:
            return client.catalog(kind)
        finally:
            client.close()


def import_video(scope: Scope, key: str, project_id: str) -> Record:
    """`state import`: adopt a video made outside jogg-flow as `key`, once a free read of
    `project_id` at the API shows it (a failed project is refused). Returns the record."""
    from ..state.edits import adopted

    environ = scope.env
    manifest = load_manifest(scope.manifest, environ)
    video = next((v for v in manifest.videos if v.key == key), None)
    if video is None:
        raise UsageError(f"no video '{key}' in {scope.manifest}: add it to the manifest first")
    if not environ.get(SECRET_ENV) and not scope.sandbox:
        raise UsageError(f"{SECRET_ENV} is not set: the project is checked at the API before import")
    location, name = state_path_for(manifest, scope.state, scope.sandbox), state_name(manifest, scope.sandbox)
    target = target_identity(manifest, scope.api_base, environ, scope.sandbox)
    # Which API the state belongs to is checked before anything is read at one.
    before = load_state(location, name)
    if before.identity is not None:
        identity.check(before.identity, target, describe_location(location, name))
    if key in before.videos:
        raise UsageError(f"'{key}' is already in the state; `jogg-flow state rm` it first")
    with _api(manifest.api_version, manifest.base_url, scope, ApplySettings(), manifest) as (base, key_, _):
        client = client_class(manifest.api_version)(base, key_, retries=2)
        try:
            info = client.project_info(project_id)
        finally:
            client.close()
    record = adopted(key, video.tags, video.inputs(), project_id, info)
    with locked_state(location, name, unlock=unlock_command(scope)) as store:
        checked = identity.check(store.identity, target, describe_location(location, name))
        if key in store.videos:
            raise UsageError(f"'{key}' is already in the state; `jogg-flow state rm` it first")
        store.set_identity(checked)
        store.put(key, record)
    return record
