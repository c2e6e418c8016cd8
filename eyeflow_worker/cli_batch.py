"""Watching a batch: long-poll its task, page its results as items land, append each finished
item once to the out/errors files, and show progress (a rich bar on a terminal, plain lines
otherwise)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from eyeflow_worker.cli_files import ResultFile
from eyeflow_worker.client import (
    MAX_PAGE_SIZE,
    TERMINAL,
    BatchItem,
    EyeflowClient,
    EyeflowError,
    Task,
)

SETTLED = frozenset({"succeeded", "failed", "cancelled"})


@dataclass(frozen=True)
class Snapshot:
    status: str
    total: int
    succeeded: int
    failed: int
    cancelled: int
    cost_usd: float
    unpriced: int
    rate: float | None  # items per second while watched
    eta_seconds: float | None

    @property
    def finished(self) -> int:
        return self.succeeded + self.failed


def describe(snap: Snapshot) -> str:
    """`38/50 done · 2 failed · 4.1/s · ETA 3s · $0.0123` (plain output and the summary)."""
    parts = [f"{snap.finished}/{snap.total} done", f"{snap.failed} failed"]
    if snap.cancelled:
        parts.append(f"{snap.cancelled} cancelled")
    parts += [_rate(snap), f"ETA {_eta(snap)}", _cost(snap)]
    return " · ".join(parts)


def _rate(snap: Snapshot) -> str:
    return "–/s" if snap.rate is None else f"{snap.rate:.1f}/s"


def _eta(snap: Snapshot) -> str:
    if snap.status in TERMINAL:
        return "0s"
    if snap.eta_seconds is None:
        return "?"
    seconds = int(snap.eta_seconds + 0.5)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def _cost(snap: Snapshot) -> str:
    return f"${snap.cost_usd:.4f}" + (f" (+{snap.unpriced} unpriced)" if snap.unpriced else "")


class Reporter(Protocol):
    def update(self, snap: Snapshot) -> None: ...
    def note(self, message: str) -> None: ...
    def close(self) -> None: ...


class PlainReporter:
    """One line per change, for logs and pipes."""

    def __init__(self, batch_id: str) -> None:
        self._batch_id = batch_id
        self._last: tuple[str, int, int] | None = None

    def update(self, snap: Snapshot) -> None:
        key = (snap.status, snap.succeeded, snap.failed)
        if key != self._last:
            self._last = key
            typer.echo(f"batch {self._batch_id} {snap.status}: {describe(snap)}")

    def note(self, message: str) -> None:
        typer.echo(message, err=True)

    def close(self) -> None:
        return None


class RichReporter:
    """A live bar on the terminal: done / failed / rate / ETA / cost so far."""

    def __init__(self, batch_id: str, console: Console | None = None) -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("[red]{task.fields[failed]} failed"),
            TextColumn("{task.fields[rate]}"),
            TextColumn("ETA {task.fields[eta]}"),
            TextColumn("{task.fields[cost]}"),
            console=console or Console(),
            transient=False,
        )
        self._task = self._progress.add_task(
            f"batch {batch_id[:8]}", total=None, failed=0, rate="–/s", eta="?", cost="$0.0000"
        )
        self._progress.start()

    def update(self, snap: Snapshot) -> None:
        self._progress.update(
            self._task,
            total=snap.total,
            completed=snap.finished,
            description=f"{snap.status}",
            failed=snap.failed,
            rate=_rate(snap),
            eta=_eta(snap),
            cost=_cost(snap),
        )

    def note(self, message: str) -> None:
        self._progress.console.print(message, markup=False, highlight=False)

    def close(self) -> None:
        self._progress.stop()


class BatchWatcher:
    """Follows one batch to its end; `watch()` answers the final task object."""

    def __init__(
        self,
        client: EyeflowClient,
        batch_id: str,
        out: ResultFile,
        errors: ResultFile,
        reporter: Reporter,
        *,
        poll_seconds: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._batch_id = batch_id
        self._out = out
        self._errors = errors
        self._reporter = reporter
        self._poll_seconds = poll_seconds
        self._clock = clock
        self._sleep = sleep
        self._low = 0  # every item below this index is settled and written
        self._cost = out.cost_usd + errors.cost_usd
        self._unpriced = 0
        self._first: tuple[float, int] | None = None

    def watch(self) -> Task:
        seen = -1
        while True:
            began = self._clock()
            task = self._poll()
            finished = task.progress.finished
            terminal = task.done
            if finished != seen or terminal:
                self._collect(task.progress.total)
                seen = finished
            self._reporter.update(self._snapshot(task))
            if terminal:
                return task
            idle = self._poll_seconds / 2 - (self._clock() - began)
            if idle > 0:  # a gateway with no wait slot left answers at once: never spin
                self._sleep(idle)

    def _poll(self) -> Task:
        # Not `client.wait`: every answer, finished or not, updates the progress shown.
        delay = 1.0
        for _attempt in range(8):
            try:
                return self._client.get_task(self._batch_id, wait=self._poll_seconds)
            except EyeflowError as error:
                if not error.retryable:
                    raise
                self._reporter.note(f"{error.message} — trying again in {delay:.0f}s")
                self._sleep(delay)
                delay = min(delay * 2, 10.0)
        return self._client.get_task(self._batch_id, wait=self._poll_seconds)

    def _collect(self, total: int) -> None:
        """Page from the lowest unsettled index to the end; write what is not written yet."""
        offset: int | None = self._low
        contiguous = True
        while offset is not None and offset < total:
            page = self._client.results_page(self._batch_id, offset=offset, limit=MAX_PAGE_SIZE)
            for item in page.items:
                settled = self._take(item)
                if contiguous and settled and item.index == self._low:
                    self._low += 1
                else:
                    contiguous = False
            offset = page.next_offset

    def _take(self, item: BatchItem) -> bool:
        index, status = item.index, item.status
        if status == "succeeded" and index not in self._out.indexes:
            self._out.append(item.to_json())
            self._count_cost(item)
        elif (
            status == "failed"
            and index not in self._errors.indexes
            and index not in self._out.indexes
        ):
            self._errors.append(item.to_json())
            self._count_cost(item)
        return status in SETTLED

    def _count_cost(self, item: BatchItem) -> None:
        cost = item.cost_usd
        if cost is None:
            self._unpriced += 1
        else:
            self._cost += cost

    def _snapshot(self, task: Task) -> Snapshot:
        progress = task.progress
        total, finished = progress.total, progress.finished
        now = self._clock()
        if self._first is None:
            self._first = (now, finished)
        since, base = self._first
        rate = (finished - base) / (now - since) if now > since and finished > base else None
        left = total - finished - progress.cancelled
        return Snapshot(
            status=task.status,
            total=total,
            succeeded=progress.succeeded,
            failed=progress.failed,
            cancelled=progress.cancelled,
            cost_usd=self._cost,
            unpriced=self._unpriced,
            rate=rate,
            eta_seconds=left / rate if rate else None,
        )
