"""The `eyeflow` command's files: reading an intents file, the idempotency key derived from it,
and the JSONL result files that are appended to and read back on a re-run."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from eyeflow_worker.cli_errors import CliError

MAX_INTENT_CHARS = 4000  # the gateway's limit per intent
MAX_BATCH_INTENTS = 5000  # the gateway's default MAX_BATCH_INTENTS
_SHOWN_PROBLEMS = 20


@dataclass(frozen=True)
class IntentsFile:
    path: Path
    intents: list[str]
    digest: str  # sha256 of the file's bytes

    def idempotency_key(self, mode: str | None) -> str:
        """Same file (and mode) → same key → the gateway answers the same batch: a re-run
        resumes instead of submitting again."""
        return f"eyeflow-cli-{self.digest}" + (f"-{mode}" if mode else "")


def read_intents(path: Path) -> IntentsFile:
    """One intent per line (`.txt`, or anything but `.jsonl`/`.ndjson`) or one
    `{"intent": "..."}` object per line. Every problem is reported with its line number."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise CliError(f"cannot read {path}: {error.strerror or error}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise CliError(f"{path}: not UTF-8 text (byte {error.start})") from None
    jsonl = path.suffix.lower() in (".jsonl", ".ndjson")
    intents: list[str] = []
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        intent, problem = _parse_line(line, jsonl=jsonl)
        if problem is None and len(intent) > MAX_INTENT_CHARS:
            problem = f"the intent is {len(intent)} characters, over the {MAX_INTENT_CHARS} limit"
        if problem is not None:
            problems.append(f"{path}:{number}: {problem}")
        intents.append(intent)
    if not intents:
        problems.insert(0, f"{path}: the file is empty — no intents to submit")
    if len(intents) > MAX_BATCH_INTENTS:
        problems.insert(
            0,
            f"{path}: {len(intents)} intents, over the gateway's limit of {MAX_BATCH_INTENTS} "
            "per batch — split the file",
        )
    if problems:
        raise CliError(_listing(problems) + "\nnothing was submitted")
    return IntentsFile(path, intents, hashlib.sha256(data).hexdigest())


def _parse_line(line: str, *, jsonl: bool) -> tuple[str, str | None]:
    if not line.strip():
        return "", "blank line (one intent per line)"
    if not jsonl:
        return line.strip(), None
    try:
        value = json.loads(line)
    except ValueError as error:
        return "", f"not JSON ({error})"
    intent = value.get("intent") if isinstance(value, dict) else None
    if not isinstance(intent, str):
        return "", 'expected an object {"intent": "..."}'
    if not intent.strip():
        return "", "the intent is blank"
    return intent, None


def _listing(problems: list[str]) -> str:
    shown = problems[:_SHOWN_PROBLEMS]
    if len(problems) > len(shown):
        shown.append(f"… and {len(problems) - len(shown)} more")
    return "\n".join(shown)


@dataclass
class ResultFile:
    """A JSONL file of finished items, one line each, keyed by the item's `index`."""

    path: Path
    batch_id: str
    indexes: set[int] = field(default_factory=set)
    cost_usd: float = 0.0
    written: int = 0
    _handle: IO[str] | None = None

    @classmethod
    def open(cls, path: Path, batch_id: str) -> ResultFile:
        result = cls(path, batch_id)
        result._read_existing()
        return result

    def _read_existing(self) -> None:
        if not self.path.exists():
            return
        with self.path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                item = _existing_item(line)
                if item is None:
                    continue  # a line cut short by a hard kill: that item is written again
                owner = item.get("batch_id")
                if owner is not None and owner != self.batch_id:
                    raise CliError(
                        f"{self.path}:{number} holds a result of batch {owner}, not of "
                        f"{self.batch_id}: choose another output file"
                    )
                self.indexes.add(int(item["index"]))
                self.cost_usd += item_cost(item) or 0.0

    def append(self, item: dict[str, Any]) -> None:
        if self._handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = self.path.open("a", encoding="utf-8")
            if self.path.stat().st_size and not _ends_with_newline(self.path):
                self._handle.write("\n")
        line = json.dumps({"batch_id": self.batch_id, **item}, ensure_ascii=False)
        self._handle.write(line + "\n")
        self._handle.flush()
        self.indexes.add(int(item["index"]))
        self.written += 1

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def _existing_item(line: str) -> dict[str, Any] | None:
    try:
        item = json.loads(line)
    except ValueError:
        return None
    if not isinstance(item, dict) or not isinstance(item.get("index"), int):
        return None
    return item


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as handle:
        handle.seek(-1, 2)
        return handle.read(1) == b"\n"


def item_cost(item: dict[str, Any]) -> float | None:
    value = item.get("cost_usd")
    return float(value) if isinstance(value, int | float) else None
