"""The question `apply` asks on a terminal before it spends: the plan, the estimate, `yes`?

Only `yes` approves. EOF is a no; Ctrl-C or SIGTERM at the question stops at once with exit
130. Nothing is
sent before the answer, and the state's lock is held throughout, so the plan shown is the
plan run. The live view starts only once the plan is approved (its redraws would write
over the question).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import IO, Any

from ..app.online import NotApproved, Proposal
from ..text import printable
from ..ui.progress import Reporter
from ..ui.report import estimate_text, plan_text

QUESTION = "Apply these changes? Only 'yes' is accepted: "


def on_terminal(stdin: IO[str], stdout: IO[str]) -> bool:
    """A person can answer: both standard input and output are terminals."""
    try:
        return stdin.isatty() and stdout.isatty()
    except (ValueError, AttributeError):  # a closed or replaced stream
        return False


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
        stdout.write(plan_text(proposal.items, manifest, changes_only=True) + "\n")
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
        self._held: list[dict[str, Any]] = []
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

    def __call__(self, event: dict[str, Any]) -> None:
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
            if event.get("event") == "warning":
                self._warnings.write(f"warning: {printable(str(event.get('message')))}\n")
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
          stdout: IO[str]) -> Callable[[Proposal], bool]:
    """The `confirm` hook for runner.apply: ask, and start the live view once approved."""
    def confirm(proposal: Proposal) -> bool:
        if reporter.stop is not None and reporter.stop.is_set():
            raise NotApproved(130)  # Ctrl-C while planning: no question left to ask
        if not ask(proposal, manifest, sandbox, stdin, stdout, reporter.stop):
            return False
        reporter.start()
        return True
    return confirm
