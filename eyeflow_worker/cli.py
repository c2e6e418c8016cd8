"""`eyeflow`: the fleet's command line, a client of the gateway's HTTP API and nothing else.

    eyeflow batch submit intents.txt --out results.jsonl [--errors errors.jsonl] [--mode M]
    eyeflow batch status ID | results ID [--status failed] [--out F] | cancel ID | retry ID
    eyeflow generate "Alert the team when database memory exceeds 85%" [--wait S]

Connection: `--url`/`--token`/`--tenant` before the command, or EYEFLOW_URL (default
http://127.0.0.1:8000), EYEFLOW_TOKEN, EYEFLOW_TENANT (default system).
Exit codes: 0 all succeeded, 1 some items (or the job) failed, 2 the batch failed, was cancelled
or could not be submitted (bad input, an HTTP error), 130 interrupted (the batch keeps running).
"""

from __future__ import annotations

import functools
import json
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, ParamSpec, TypeVar

import httpx
import typer

from eyeflow_worker.cli_batch import (
    BatchWatcher,
    PlainReporter,
    Reporter,
    RichReporter,
    Snapshot,
    describe,
)
from eyeflow_worker.cli_errors import CliError, cli_error
from eyeflow_worker.cli_files import ResultFile, read_intents
from eyeflow_worker.client import (
    DEFAULT_TENANT,
    DEFAULT_URL,
    MAX_PAGE_SIZE,
    Accepted,
    EyeflowClient,
    EyeflowError,
    InvalidRequest,
    Task,
)

app = typer.Typer(
    name="eyeflow",
    help="Eyeflow fleet: submit and follow rule-generation jobs through the gateway's HTTP API.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
batch_app = typer.Typer(help="Batches of intents: submit, follow, read, cancel, retry.")
app.add_typer(batch_app, name="batch")

# Tests point the client at an in-process transport instead of the network.
transport: httpx.BaseTransport | None = None
POLL_SECONDS = 2.0  # each poll long-polls the task this long (`?wait=`)
EXIT_INTERRUPTED = 130

P = ParamSpec("P")
R = TypeVar("R")


def _reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """A `CliError` (or a client's `EyeflowError`) anywhere below ends the command with its
    message on stderr and its code."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            try:
                return command(*args, **kwargs)
            except EyeflowError as error:
                raise cli_error(error) from None
        except CliError as error:
            typer.echo(f"error: {error.message}", err=True)
            raise typer.Exit(error.exit_code) from None

    return run


@app.callback()
def main(
    ctx: typer.Context,
    url: Annotated[
        str, typer.Option(envvar="EYEFLOW_URL", help="The gateway's base URL.")
    ] = DEFAULT_URL,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="EYEFLOW_TOKEN",
            help="GATEWAY_API_TOKEN (sent as a Bearer token).",
            show_default=False,
        ),
    ] = None,
    tenant: Annotated[
        str, typer.Option(envvar="EYEFLOW_TENANT", help="The tenant (sent as X-User-ID).")
    ] = DEFAULT_TENANT,
) -> None:
    ctx.obj = Connection(url=url, token=token or None, tenant=tenant)


@dataclass(frozen=True)
class Connection:
    url: str = DEFAULT_URL
    token: str | None = field(default=None, repr=False)
    tenant: str = DEFAULT_TENANT


def _client(ctx: typer.Context) -> EyeflowClient:
    c = ctx.obj if isinstance(ctx.obj, Connection) else Connection()
    return EyeflowClient(
        c.url, token=c.token, tenant=c.tenant, user_agent="eyeflow-cli", transport=transport
    )


def _echo_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False))


# --- batch submit ---------------------------------------------------------------------------

Mode = Literal["realtime", "economy", "auto"]


@batch_app.command("submit")
@_reports_errors
def batch_submit(
    ctx: typer.Context,
    intents_file: Annotated[
        Path,
        typer.Argument(
            help='One intent per line (.txt) or {"intent": ...} per line (.jsonl).',
            show_default=False,
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Succeeded items, one JSON line each.")],
    errors: Annotated[
        Path | None,
        typer.Option(
            "--errors",
            help="Failed items (default: OUT with .errors before the suffix).",
            show_default=False,
        ),
    ] = None,
    mode: Annotated[
        Mode | None,
        typer.Option(
            "--mode", help="realtime | economy | auto (sent only when given).", show_default=False
        ),
    ] = None,
) -> None:
    """Submit a file of intents as one batch and follow it to the end, writing each finished
    intent to --out / --errors. Running the same command again resumes the same batch and
    writes only what is missing."""
    source = read_intents(intents_file)
    errors_path = errors or out.with_name(f"{out.stem}.errors{out.suffix or '.jsonl'}")
    with _client(ctx) as client:
        accepted = _submit_batch(client, source.intents, source.idempotency_key(mode), mode)
        batch_id = accepted.task_id
        verb = "submitted" if accepted.created else "resuming"
        typer.echo(f"{verb} batch {batch_id} ({len(source.intents)} intents from {intents_file})")
        out_file = ResultFile.open(out, batch_id)
        errors_file = ResultFile.open(errors_path, batch_id)
        resume = _resume_command(intents_file, out, errors_path, mode)
        reporter: Reporter = (
            RichReporter(batch_id) if sys.stdout.isatty() else PlainReporter(batch_id)
        )
        started = time.monotonic()
        try:
            task = BatchWatcher(
                client, batch_id, out_file, errors_file, reporter, poll_seconds=POLL_SECONDS
            ).watch()
        except KeyboardInterrupt:
            reporter.close()
            typer.echo(
                f"\nstopped watching; batch {batch_id} keeps running on the fleet.\n"
                f"resume with: {resume}",
                err=True,
            )
            raise typer.Exit(EXIT_INTERRUPTED) from None
        finally:
            reporter.close()
            out_file.close()
            errors_file.close()
    _finish(task, out_file, errors_file, time.monotonic() - started)


def _submit_batch(
    client: EyeflowClient, intents: list[str], key: str, mode: Mode | None
) -> Accepted:
    """The accepted batch: new (202), or the one this idempotency key already named (200: a
    re-run resumes it)."""
    try:
        return client.submit_batch(intents, idempotency_key=key, mode=mode)
    except InvalidRequest as error:
        if "mode" in error.fields:
            raise CliError(
                f"this gateway does not accept --mode yet ({error.message}); "
                "run again without --mode",
                status=422,
                fields=error.fields,
            ) from None
        raise


def _resume_command(source: Path, out: Path, errors: Path, mode: str | None) -> str:
    words = ["eyeflow", "batch", "submit", str(source), "--out", str(out), "--errors", str(errors)]
    if mode:
        words += ["--mode", mode]
    return shlex.join(words)


def _finish(task: Task, out: ResultFile, errors: ResultFile, seconds: float) -> None:
    progress = task.progress
    snap = Snapshot(
        status=task.status,
        total=progress.total,
        succeeded=progress.succeeded,
        failed=progress.failed,
        cancelled=progress.cancelled,
        cost_usd=out.cost_usd + errors.cost_usd,
        unpriced=0,
        rate=None,
        eta_seconds=None,
    )
    typer.echo(
        f"batch {task.task_id} {snap.status} in {seconds:.1f}s: "
        f"{snap.succeeded} succeeded, {snap.failed} failed"
        + (f", {snap.cancelled} cancelled" if snap.cancelled else "")
    )
    typer.echo(f"  {out.path}: {len(out.indexes)} lines ({out.written} new)")
    if errors.indexes or errors.written:
        typer.echo(f"  {errors.path}: {len(errors.indexes)} lines ({errors.written} new)")
    if snap.status != "succeeded":
        raise typer.Exit(2)
    if snap.failed:
        typer.echo(f"  retry the failed items: eyeflow batch retry {task.task_id}")
        raise typer.Exit(1)


# --- batch status / results / cancel / retry ------------------------------------------------


def _summary(task: Task) -> str:
    p = task.progress
    lines = [
        f"{task.kind} {task.task_id}: {task.status} — {p.finished}/{p.total} done, "
        f"{p.succeeded} succeeded, {p.failed} failed, {p.cancelled} cancelled",
        f"  created {task.created_at or '-'}, started {task.started_at or '-'}, "
        f"finished {task.finished_at or '-'}",
    ]
    if task.error is not None:
        lines.append(f"  error: {task.error.code}: {task.error.message}")
    return "\n".join(lines)


@batch_app.command("status")
@_reports_errors
def batch_status(
    ctx: typer.Context,
    task_id: Annotated[str, typer.Argument(metavar="ID", show_default=False)],
    as_json: Annotated[bool, typer.Option("--json", help="Print the task object.")] = False,
) -> None:
    """Where a batch (or any task) stands."""
    with _client(ctx) as client:
        task = client.get_task(task_id)
    if as_json:
        _echo_json(task.to_json())
    else:
        typer.echo(_summary(task))


ItemStatus = Literal["succeeded", "failed", "queued", "cancelled"]


@batch_app.command("results")
@_reports_errors
def batch_results(
    ctx: typer.Context,
    task_id: Annotated[str, typer.Argument(metavar="ID", show_default=False)],
    status: Annotated[
        ItemStatus | None,
        typer.Option("--status", help="Only items in this state.", show_default=False),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write JSONL here (default: stdout).", show_default=False),
    ] = None,
) -> None:
    """A batch's per-item results, one JSON line each, in submission order."""
    with _client(ctx) as client:
        # Filtered here as well: a gateway without `?status=` answers every item.
        lines = [
            json.dumps(item.to_json(), ensure_ascii=False)
            for item in client.iter_results(task_id, status=status, page_size=MAX_PAGE_SIZE)
            if status is None or item.status == status
        ]
    if out is None:
        for line in lines:
            typer.echo(line)
        return
    out.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    typer.echo(f"{len(lines)} items written to {out}", err=True)


@batch_app.command("cancel")
@_reports_errors
def batch_cancel(
    ctx: typer.Context, task_id: Annotated[str, typer.Argument(metavar="ID", show_default=False)]
) -> None:
    """Cancel a batch: finished items are kept, the rest is cancelled."""
    with _client(ctx) as client:
        task = client.cancel(task_id)
    typer.echo(_summary(task))


@batch_app.command("retry")
@_reports_errors
def batch_retry(
    ctx: typer.Context, task_id: Annotated[str, typer.Argument(metavar="ID", show_default=False)]
) -> None:
    """Re-queue the failed items of a finished batch (409 while it still runs)."""
    with _client(ctx) as client:
        task = client.retry(task_id)
    typer.echo(f"requeued {task.requeued} failed items")
    typer.echo(_summary(task))
    typer.echo(
        "  follow it with the same `eyeflow batch submit` command (writes the new results), "
        f"or `eyeflow batch status {task_id}`"
    )


# --- generate -------------------------------------------------------------------------------


@app.command("generate")
@_reports_errors
def generate(
    ctx: typer.Context,
    intent: Annotated[str, typer.Argument(help="What the workflow should do.", show_default=False)],
    wait: Annotated[
        float, typer.Option("--wait", min=0.1, help="Seconds to wait for the rules.")
    ] = 30.0,
) -> None:
    """Generate workflow rules for one intent and print them (JSON)."""
    deadline = time.monotonic() + wait
    with _client(ctx) as client:
        accepted = client.submit_generate(intent)
        task = client.wait(accepted.task_id, timeout=max(deadline - time.monotonic(), 0.0))
    if task.status == "succeeded":
        _echo_json(task.rules_result().workflow_rules.to_json())
        return
    if task.done:
        error = task.error
        raise CliError(
            f"task {task.task_id} {task.status}: "
            f"{error.code if error else None}: {error.message if error else None}",
            exit_code=1,
        )
    raise CliError(
        f"task {task.task_id} is still {task.status} after {wait:g}s; "
        f"read it later with `eyeflow batch status {task.task_id}`"
    )


__all__ = ["app", "describe"]

if __name__ == "__main__":
    app()
