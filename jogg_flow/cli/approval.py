"""The question `apply` asks before it spends when a person is at the keyboard (stdin is a
terminal, wherever stdout goes): the plan, the estimate, `yes`?

Only `yes` approves. EOF is a no; Ctrl-C or SIGTERM at the question stops at once with exit
130. Nothing is
sent before the answer, and the state's lock is held throughout, so the plan shown is the
plan run. The live view starts only once the plan is approved (its redraws would write
over the question).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import IO, Any

from ..app.online import NotApproved, Proposal
from ..engine.events import Event
from ..text import printable
from ..ui.progress import Reporter
from ..ui.report import Again, estimate_text, orientation_text, plan_text, rename_hint, renamed

QUESTION = "Apply these changes? Only 'yes' is accepted: "


def is_terminal(stream: IO[str]) -> bool:
    """Whether the stream is a terminal (a closed or replaced stream is not)."""
    try:
        return stream.isatty()
    except (ValueError, AttributeError):
        return False


def at_keyboard(stdin: IO[str]) -> bool:
    """A person can answer: standard input is a terminal, wherever the output goes
    (`apply M | tee log` typed at a terminal is still a person about to spend)."""
    return is_terminal(stdin)


Place = IO[str] | str  # a stream on the terminal, or the path of the terminal to open


def where_to_ask(stdin: IO[str], stdout: IO[str], stderr: IO[str]) -> Place | None:
    """Where the plan and the question show so the person at stdin sees them: standard
    output when it is the terminal, else standard error when it is, else the terminal stdin
    reads from (opened by its name; the console on Windows); None if there is none."""
    for stream in (stdout, stderr):
        if is_terminal(stream):
            return stream
    if os.name == "nt":
        return "CONOUT$"
    try:
        return os.ttyname(stdin.fileno())
    except (OSError, ValueError, AttributeError):
        return None


@contextlib.contextmanager
def shown_on(place: Place) -> Iterator[IO[str]]:
    """The stream for `place`: the stream itself, or the terminal opened for this question."""
    if not isinstance(place, str):
        yield place
        return
    with open(place, "w", encoding=getattr(sys.stdout, "encoding", None) or "utf-8",
              errors="replace") as terminal:
        yield terminal


def ask(proposal: Proposal, manifest: str, sandbox: bool, stdin: IO[str], stdout: IO[str],
        stop: threading.Event | None = None) -> bool:
    """Show what would change and what it costs, then read the answer. A plan that sends
    nothing (waits, reads, up-to-date videos) is not asked about. `stop`: set when the run
    was asked to stop before the question (it is then not asked)."""
    if not proposal.spends:
        return True
    # Ctrl-C or SIGTERM from the moment the question may be seen ends the run at once:
    # apply's own handler only asks the run to stop, which would leave the question waiting.
    main = threading.current_thread() is threading.main_thread()
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)} \
        if main else {}
    answer = ""
    try:
        if stop is not None and stop.is_set():  # a signal between planning and the question
            raise KeyboardInterrupt
        if proposal.shown:  # another command's own plan (`preview`)
            stdout.write(proposal.shown + "\n" + (proposal.question or QUESTION))
        else:
            stdout.write(plan_text(proposal.items, manifest, changes_only=True) + "\n")
            for old, new in renamed(proposal.items, proposal.records):
                stdout.write(rename_hint(old, new, Again(manifest, sandbox)) + "\n")
            if orientation_text(proposal.items):
                stdout.write(orientation_text(proposal.items) + "\n")
            stdout.write(estimate_text(proposal.estimate, proposal.rate, sandbox) + "\n" + QUESTION)
        stdout.flush()
        answer = stdin.readline()
    except KeyboardInterrupt:
        raise NotApproved(130) from None
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if not answer.endswith("\n"):  # Ctrl-C or EOF (Ctrl-D): the terminal echoed no newline
            stdout.write("\n")
            stdout.flush()
    return answer.strip() == "yes"


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # out of the blocked readline, whichever signal it was


class Deferred:
    """Stands for the run's Reporter until the plan is approved: events are held, then
    replayed to the Reporter `start` makes. Warnings of a run that never started are
    printed on `close` so none is lost."""

    def __init__(self, make: Callable[[], Reporter], warnings: IO[str]) -> None:
        self._make, self._warnings = make, warnings
        self._held: list[Event] = []
        self.reporter: Reporter | None = None
        self.stop: threading.Event | None = None

    def start(self) -> None:
        """Make the Reporter (its live view starts) and give it the events held so far."""
        if self.reporter is None:
            self.reporter = self._make()
            self.reporter.stop = self.stop
            for event in self._held:
                self.reporter(event)
            self._held.clear()

    def __call__(self, event: Event) -> None:
        if self.reporter is None:
            self._held.append(event)
        else:
            self.reporter(event)

    def notice(self, text: str, stream: IO[str]) -> None:
        """As Reporter.notice."""
        if self.reporter is None:
            stream.write(text + "\n")
            stream.flush()
        else:
            self.reporter.notice(text, stream)

    def close(self) -> None:
        """As Reporter.close; a run stopped before approval prints the warnings it held."""
        if self.reporter is not None:
            self.reporter.close()
            return
        for event in self._held:
            if event["event"] == "warning":
                self._warnings.write(f"warning: {printable(str(event['message']))}\n")
        self._held.clear()

    @property
    def lost(self) -> bool:
        """As Reporter.lost."""
        return self.reporter is not None and self.reporter.lost

    @property
    def failure(self) -> str | None:
        """As Reporter.failure."""
        return self.reporter.failure if self.reporter is not None else None


def asker(reporter: Deferred, manifest: str, sandbox: bool, stdin: IO[str],
          place: Place) -> Callable[[Proposal], bool]:
    """The `confirm` hook for runner.apply: ask on the terminal at `place`, and start the
    live view once approved."""
    def confirm(proposal: Proposal) -> bool:
        if reporter.stop is not None and reporter.stop.is_set():
            raise NotApproved(130)  # Ctrl-C while planning: no question left to ask
        with shown_on(place) as shown:
            approved = ask(proposal, manifest, sandbox, stdin, shown, reporter.stop)
        if not approved:
            return False
        reporter.start()
        return True
    return confirm
