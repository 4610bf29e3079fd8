"""Audits that remember: the trusted state on disk, one incremental round, and `--follow`.

`altan audit URL` keeps what it verified in a state file per log (`ledger.trusted`), by
default ``$XDG_STATE_HOME/altan/logs/<origin>.json`` (``~/.local/state/...`` without
XDG_STATE_HOME), or the file given with ``--state``. The origin naming the file is what was
pinned: the name of the ``--key`` keys (``--origin`` must agree), else ``--origin``; without
either, the state kept for this URL, else (trust on first use) the name of the keys the
server lists. Never the origin line of the checkpoint it serves. The first audit of a log
reads it all; later ones check the new checkpoint against the trusted one (consistency
proof) and read only the new entries. ``--follow`` repeats that every ``--interval``
seconds and prints one line per round. (A database source is audited whole unless
``--state`` is given: there the audit is also about the stored rows, which an insider could
edit below a trusted size.)

Exit status:
0 verified: the state moved forward (or the log had nothing new); ``--follow``: stopped
  with Ctrl-C, or ``--rounds`` done;
1 a verification failure: the first bad entry, a checkpoint that does not verify with the
  trusted keys or (on a first audit) names another log, or a bad consistency proof from a
  log whose own entries show it consistent (the state is not moved);
2 no verdict: the source, or the state file, cannot be read or written, an answer is
  larger than its cap (`clients.remote`), or the pinned keys and --origin disagree;
4 evidence that the log was rewritten or forked: signed checkpoints that cannot both hold
  (a smaller tree, the same size with another root, a tree whose first entries give another
  root than the trusted one, or the log's key signing for another origin); see
  `ledger.trusted`. Both signed checkpoints (and the proof, for ``inconsistent``) are saved
  next to the state, in ``<state>.evidence-<time>.json``, for ``altan evidence FILE --key
  K`` to check offline; the state is not moved.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ledger.audit import TrustedKey
from ledger.checkpoint import pinned_origin
from ledger.entry import format_time
from ledger.errors import LedgerError
from ledger.trusted import (
    Outcome,
    ProofSource,
    StateFile,
    TrustedState,
    expected_origin,
    incremental_audit,
    state_file_name,
)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_NO_VERDICT = 2
EXIT_EVIDENCE = 4

Progress = Callable[[int, int], None]


def default_state_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_STATE_HOME/altan/logs`` when that is an absolute path (XDG Base Directory),
    else ``~/.local/state/altan/logs``."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_STATE_HOME", "")
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".local" / "state"
    return root / "altan" / "logs"


def _now() -> str:
    return format_time(datetime.now(UTC))


@dataclass(frozen=True)
class Round:
    """One audit round: its outcome (None when there was no verdict) and what it cost."""

    time: str
    seconds: float
    exit_code: int
    outcome: Outcome | None = None
    error: str | None = None
    state_error: bool = False
    bytes_fetched: int | None = None
    requests: int | None = None
    entries_fetched: int | None = None
    state_path: Path | None = None
    evidence_path: Path | None = None


class Auditor:
    """Audits one source round after round from a trusted state.

    `state` is an explicit state file (``--state``); without it the file is found under
    `state_dir` by the pinned origin (see the module docs), never by a served checkpoint.
    With `keep_state=False` the state lives in memory only (one process).
    """

    def __init__(
        self,
        source: ProofSource,
        name: str,
        *,
        keys: Sequence[TrustedKey] | None = None,
        origin: str | None = None,
        workers: int | None = None,
        state: Path | None = None,
        state_dir: Path | None = None,
        keep_state: bool = True,
        full: bool = False,
        clock: Callable[[], str] = _now,
    ) -> None:
        self.source = source
        self.name = name
        self.keys = list(keys) if keys is not None else None
        self.origin = origin
        self.workers = workers
        self.state = state
        self.state_dir = state_dir
        self.keep_state = keep_state
        self.full = full
        self.clock = clock
        self._memory: TrustedState | None = None

    def _counters(self) -> tuple[int | None, int | None, int | None]:
        return (
            getattr(self.source, "bytes_fetched", None),
            getattr(self.source, "requests", None),
            getattr(self.source, "entries_fetched", None),
        )

    def state_file(self) -> StateFile | None:
        """Where the state of the pinned log is kept (None: in memory).

        The pinned keys' name, else --origin. Without either: the state already kept for
        this source (so a server that renames its keys does not get a fresh start), else
        the name of the keys the source lists (trust on first use; reads `/log/keys`).
        KeyProblem when the pinned keys and --origin disagree.
        """
        origin = expected_origin(self.keys, self.origin)
        if not self.keep_state:
            return None
        if self.state is not None:
            return StateFile(self.state)
        directory = self.state_dir if self.state_dir is not None else default_state_dir()
        if origin is None:
            kept = self._kept_for_source(directory)
            if kept is not None:
                return kept
            origin = pinned_origin(k.name for k in self.source.keys())
        return StateFile(directory / state_file_name(origin))

    def _kept_for_source(self, directory: Path) -> StateFile | None:
        """The newest valid state in `directory` recorded for this source's name, if any."""
        best: tuple[str, StateFile] | None = None
        for path in sorted(directory.glob("*.json")) if directory.is_dir() else []:
            if ".evidence-" in path.name:
                continue
            try:
                state = StateFile(path).load()
            except (LedgerError, OSError):
                continue  # another log's business; this audit does not depend on it
            same = state is not None and state.source == self.name
            if same and state is not None and (best is None or state.verified_at > best[0]):
                best = (state.verified_at, StateFile(path))
        return best[1] if best is not None else None

    def run_round(self, progress: Progress | None = None) -> Round:
        """One incremental audit; moves the state only when everything verified."""
        when = self.clock()
        started = time.perf_counter()
        before = self._counters()
        state_file: StateFile | None = None
        outcome: Outcome | None = None
        evidence_path: Path | None = None

        def done(code: int, error: str | None = None, *, state_error: bool = False) -> Round:
            after = self._counters()
            spent = [
                None if b is None or a is None else a - b
                for a, b in zip(after, before, strict=True)
            ]
            return Round(
                when,
                time.perf_counter() - started,
                code,
                outcome,
                error,
                state_error,
                spent[0],
                spent[1],
                spent[2],
                state_file.path if state_file is not None else None,
                evidence_path,
            )

        try:
            state_file = self.state_file()
        except LedgerError as exc:  # pinned keys of two logs, or keys and --origin disagree
            return done(EXIT_NO_VERDICT, f"cannot audit {self.name}: {exc}")
        except Exception as exc:  # network, HTTP status, database: not a verdict
            return done(EXIT_NO_VERDICT, f"cannot read {self.name}: {exc}")
        try:
            note = self.source.checkpoint()
        except Exception as exc:  # network, HTTP status, database: not a verdict
            return done(EXIT_NO_VERDICT, f"cannot read {self.name}: {exc}")
        lock: AbstractContextManager[None] = (
            state_file.locked() if state_file is not None else nullcontext()
        )
        try:
            with lock:
                if state_file is None:
                    trusted = self._memory
                else:
                    trusted = state_file.load(replay=True, kept=self._memory)
                if trusted is not None:  # before any entry is read
                    trusted.check_log(self.keys, expected_origin(self.keys, self.origin))
                try:
                    outcome = incremental_audit(
                        self.source,
                        trusted,
                        now=when,
                        keys=self.keys,
                        origin=self.origin,
                        full=self.full,
                        workers=self.workers,
                        progress=progress,
                        source_name=self.name,
                        note=note,
                    )
                except Exception as exc:
                    return done(EXIT_NO_VERDICT, f"cannot read {self.name}: {exc}")
                if outcome.evidence is not None:
                    if state_file is None:
                        return done(EXIT_EVIDENCE)
                    try:
                        evidence_path = state_file.save_evidence(
                            outcome.evidence, found_at=when, source=self.name
                        )
                    except (LedgerError, OSError) as exc:  # the verdict stands all the same
                        return done(EXIT_EVIDENCE, f"the evidence could not be saved: {exc}")
                    return done(EXIT_EVIDENCE)
                if not outcome.ok or outcome.state is None:
                    return done(EXIT_FAILED)
                if state_file is not None:
                    state_file.save(outcome.state)
                self._memory = outcome.state
        except (LedgerError, OSError) as exc:  # the state file: unreadable, corrupt, unwritable
            outcome = None  # no verdict stands on a state that could not be used
            where = state_file.path if state_file is not None else "?"
            message = str(exc) if isinstance(exc, LedgerError) else f"{where}: {exc}"
            return done(EXIT_NO_VERDICT, f"trusted state: {message}", state_error=True)
        return done(EXIT_OK)

    def follow(
        self,
        out: Callable[[str], None],
        err: Callable[[str], None],
        *,
        interval: float,
        rounds: int | None = None,
        as_json: bool = False,
        sleep: Callable[[float], None] = time.sleep,
    ) -> int:
        """Audit round after round, one line each, `interval` seconds apart.

        Stops at the first failure (1) or evidence (4), or a state file that cannot be used
        (2); a source that cannot be read is retried next round. Ctrl-C stops with 0.
        After `rounds` rounds, returns the last round's status.
        """
        done = 0
        code = EXIT_OK
        try:
            while rounds is None or done < rounds:
                if done:
                    sleep(interval)
                r = self.run_round()
                done += 1
                code = r.exit_code
                out(_json_line(r) if as_json else round_line(r))
                if code in (EXIT_FAILED, EXIT_EVIDENCE) or r.state_error:
                    return code
        except KeyboardInterrupt:
            err(f"stopped after {done} round{'s' if done != 1 else ''}")
            return EXIT_OK
        return code


# --- reporting -----------------------------------------------------------------------------


def report_round(
    r: Round, out: Callable[[str], None], err: Callable[[str], None], *, as_json: bool
) -> int:
    """Report one round of `altan audit`: the verdict line (or a JSON object) on `out`, what
    it cost and where the state is on `err`; return its exit status."""
    if as_json:
        out(_json_line(r))
    elif r.outcome is None:
        err(r.error or "no verdict")
    else:
        out(result_text(r))
        err(cost_text(r))
    return r.exit_code


def _size_change(o: Outcome) -> str:
    return f"{o.old_size} -> {o.new_size}"


def result_text(r: Round) -> str:
    """The one-line verdict of a round (the first line of `altan audit`)."""
    o = r.outcome
    assert o is not None
    rep = o.report
    cp = rep.checkpoint
    if o.evidence is not None:
        if r.evidence_path is not None:
            saved = f"; both signed checkpoints saved to {r.evidence_path}"
        else:
            saved = f"; NOT saved: {r.error or 'no state file (--no-state)'}"
        return f"EVIDENCE {o.evidence.kind}: {o.evidence.message}{saved}"
    if rep.failure is not None:
        f = rep.failure
        where = f"entry {f.index}" if f.index is not None else "log"
        return f"FAIL {f.kind} at {where}: {f.message}"
    assert cp is not None
    if o.previous is None or rep.start == 0:
        return (
            f"OK {cp.origin}: {rep.entries_verified} entries and {rep.checkpoints_verified} "
            f"checkpoints verified; root {cp.root_hash.hex()} at size {cp.size}"
        )
    if cp.size == o.old_size:
        return f"OK {cp.origin}: no new entries; root {cp.root_hash.hex()} at size {cp.size}"
    return (
        f"OK {cp.origin}: {rep.entries_verified} new entries and {rep.checkpoints_verified} "
        f"checkpoints verified ({_size_change(o)}), consistent with the trusted checkpoint; "
        f"root {cp.root_hash.hex()} at size {cp.size}"
    )


def cost_text(r: Round) -> str:
    """What a round fetched and where the state is."""
    parts = []
    if r.bytes_fetched is not None:
        parts.append(f"fetched {r.bytes_fetched:,} bytes in {r.requests or 0:,} requests")
    parts.append(f"{r.seconds:.2f} s")
    if r.state_path is not None:
        moved = r.exit_code == EXIT_OK
        parts.append(f"trusted state {'saved in' if moved else 'left unchanged in'} {r.state_path}")
    return "; ".join(parts)


def round_line(r: Round) -> str:
    """`--follow`'s line: time, old size -> new size, entries verified, bytes, seconds."""
    head = r.time
    if r.outcome is None:
        return f"{head} NO VERDICT: {r.error}"
    o = r.outcome
    assert o is not None
    if o.evidence is not None or o.report.failure is not None:
        return f"{head} {result_text(r)}"
    fetched = f"{r.bytes_fetched:,} bytes" if r.bytes_fetched is not None else "- bytes"
    return (
        f"{head} {_size_change(o)}: {o.report.entries_verified:,} entries verified, "
        f"{fetched} fetched, {r.seconds:.2f} s"
    )


def result_json(r: Round) -> dict[str, Any]:
    """The round as JSON: `altan audit --json`'s fields, and the state's."""
    o = r.outcome
    rep = o.report if o is not None else None
    cp = rep.checkpoint if rep is not None else None
    failure = rep.failure if rep is not None else None
    ev = o.evidence if o is not None else None
    return {
        "ok": r.exit_code == EXIT_OK,
        "exit_code": r.exit_code,
        "origin": cp.origin if cp else None,
        "tree_size": cp.size if cp else None,
        "root_hash": cp.root_hash.hex() if cp else None,
        "previous_size": o.previous.size if o is not None and o.previous is not None else None,
        "entries_verified": rep.entries_verified if rep else 0,
        "checkpoints_verified": rep.checkpoints_verified if rep else 0,
        "failure": None
        if failure is None
        else {"kind": str(failure.kind), "index": failure.index, "message": failure.message},
        "evidence": None
        if ev is None
        else {
            "kind": str(ev.kind),
            "message": ev.message,
            "file": str(r.evidence_path) if r.evidence_path is not None else None,
        },
        "error": r.error,
        "time": r.time,
        "seconds": round(r.seconds, 6),
        "bytes_fetched": r.bytes_fetched,
        "requests": r.requests,
        "entries_fetched": r.entries_fetched,
        "state": str(r.state_path) if r.state_path is not None else None,
    }


def _json_line(r: Round) -> str:
    return json.dumps(result_json(r))


@contextmanager
def progress_bar(console: Any) -> Iterator[Progress]:
    """A transient rich progress bar on `console`, as a progress callback."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.progress import Progress as Bar

    with Bar(
        TextColumn("auditing"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("entries", total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def write_line(text: str) -> None:
    """Print a line on stdout now (rounds of --follow appear as they happen)."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
