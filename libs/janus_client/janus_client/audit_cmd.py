"""`janus audit replay`: rebuild orders and positions from EVENTS with the projections the
services use, check the invariants (janus_common.audit), print a report."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import signal
import sys
import traceback
from collections.abc import Callable
from typing import BinaryIO
from datetime import datetime, timezone

import msgspec
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from janus_common import audit, bus, chain, memory, projections, subjects

from .connect import connect_or_explain
from .progress import Progress
from janus_common.streams import EVENTS_STREAM, INTENTS_STREAM

from .exits import EXIT_NOTHING, EXIT_OK, EXIT_TIMEOUT, EXIT_UNREACHABLE, EXIT_USAGE, EXIT_VIOLATIONS


# What reading EVENTS can fail with once connected (nats.js.errors.NotFoundError: no stream yet).
READ_ERRORS = (asyncio.TimeoutError, bus.BusError, nats.errors.Error)


def read_failed(command: str, exc: BaseException) -> int:
    """Say why EVENTS could not be read; the exit code scripts can branch on."""
    if isinstance(exc, nats.js.errors.NotFoundError):
        print(f"{command}: there is no EVENTS stream here: nothing has been recorded", file=sys.stderr)
        return EXIT_NOTHING
    print(f"{command}: reading EVENTS failed: {type(exc).__name__}: {exc}", file=sys.stderr)
    return EXIT_TIMEOUT


def parse_since(text: str | None) -> datetime | None:
    """``--since``: an ISO time; ValueError names the expected form."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text).astimezone(timezone.utc)
    except ValueError:
        raise ValueError(f"--since {text!r} is not an ISO time (e.g. 2026-11-24T09:00:00+00:00)") from None


def events_subject(account: str | None) -> str:
    """Every event subject, or one account's (ValueError for a malformed alias)."""
    return subjects.ALL_EVENTS if account is None else f"janus.evt.*.{subjects.account_token(account)}"


async def read_events(js: JetStreamContext, *, account: str | None, since: datetime | None,
                      timeout: float = 60.0, progress: bus.ProgressHook | None = None,
                      each: Callable[[chain.Stored], None] | None = None) -> list[chain.Stored]:
    """Every event of the stream (or the account's) as stored, from the start or ``since``;
    ``each`` sees every record as it arrives."""
    subject = events_subject(account)
    return await bus.stored(js, EVENTS_STREAM, subject, since=since, timeout=timeout, progress=progress, each=each)


async def read_intents(js: JetStreamContext, *, account: str | None, since: datetime | None,
                       timeout: float = 60.0, progress: bus.ProgressHook | None = None) -> list[chain.Stored]:
    """Every order and cancel intent stored in INTENTS (or the account's)."""
    subject = subjects.ALL_INTENTS if account is None else subjects.intent(account)
    return await bus.stored(js, INTENTS_STREAM, subject, since=since, timeout=timeout, progress=progress)


def decode_all(records: list[chain.Stored]) -> list[msgspec.Struct]:
    """The readable events (the unreadable ones are the audit's findings, not folded)."""
    return audit.decode(records)[0]


def report_text(report: audit.AuditReport, replays_agree: bool) -> str:
    lines = [f"events replayed  {report.events}",
             f"intents          {report.intents} ({report.routed} routed, {report.rejected} rejected, "
             f"{report.open_orders} still working)",
             f"state hash       {report.state_hash} ({'identical on a second replay' if replays_agree else 'DIFFERS on a second replay'})"]
    if report.violations:
        lines.append(f"VIOLATIONS       {len(report.violations)}")
        lines += [f"  {f.check:<16} {f.account:<10} {f.intent_id} {f.detail}" for f in report.violations]
    else:
        lines.append("invariants       one outcome per intent, fills = reported fills, each order placed once, "
                     "at most one exit of a bracket filled, hash chain of every subject unbroken: OK")
    for f in report.position_differences:
        lines.append(f"  position note  {f.account:<10} {f.detail}")
    for acct, state in report.trading_states.items():
        lines.append(f"trading state    {acct:<10} {state}")
    return "\n".join(lines)


async def replay_command(args: argparse.Namespace, nats_url: str) -> int:
    try:
        since = parse_since(args.since)
        events_subject(args.account)
    except ValueError as exc:
        print(f"janus audit replay: {exc}", file=sys.stderr)
        return EXIT_USAGE
    with memory.no_gc():  # a million records and events (the copies inherit it), no cycles among them
        # Started before connecting, so the forked copy holds no share of the connection's socket.
        work = _start(account=args.account, since=since)
        await work.connect()
        nc = await connect_or_explain(nats_url, "janus-audit")
        if nc is None:
            work.abandon()
            return EXIT_UNREACHABLE
        code = await _replay(nc, args, since, work)
        # The records read stay reachable from the read's subscription (a reference cycle in
        # nats-py) until the collector runs; then it would walk and free them one by one (seconds
        # per million) just before this command exits. Frozen, they are left to the exit instead.
        gc.freeze()
    return code


class _Fold:
    """The first replay, done while EVENTS is read: each record decoded once as it arrives
    (an unreadable one becomes its finding) and folded, so the work overlaps the server sending
    the rest instead of waiting for the whole read."""

    def __init__(self) -> None:
        self.events: list[msgspec.Struct] = []
        self.unreadable: list[audit.Finding] = []
        self.state = projections.Ledger()

    def take(self, record: chain.Stored) -> None:
        event = audit.read(record)
        if isinstance(event, audit.Finding):
            self.unreadable.append(event)
            return
        self.events.append(event)
        self.state = projections.apply(self.state, event)


def _second_replay(events: list[msgspec.Struct]) -> Callable[[], str]:
    """The determinism check's second replay: the events folded again from an empty ledger, and
    that ledger's state hash. In a forked copy of this process where there is fork, so it runs on
    another core while the audit goes on (INTENTS, the checks); the call returned waits for it. A
    second replay that fails or dies answers "" (no hash: the replays do not agree)."""
    if not hasattr(os, "fork"):
        state_hash = audit.state_hash(projections.replay(events))
        return lambda: state_hash
    readable, writable = os.pipe()
    pid = os.fork()
    if pid == 0:  # the copy: fold, answer, exit at once (never back into the event loop)
        code = 1
        try:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the reader's to report
            os.close(readable)
            os.write(writable, audit.state_hash(projections.replay(events)).encode())
            code = 0
        except BaseException:  # noqa: BLE001 - reported in the parent as replays that differ
            traceback.print_exc()
            sys.stderr.flush()
        finally:
            os._exit(code)
    os.close(writable)

    def wait() -> str:
        with os.fdopen(readable, "rb") as answer:
            state_hash = answer.read().decode()
        os.waitpid(pid, 0)
        return state_hash

    return wait


class _Audit:
    """The audit's work, fed as the reads go: each EVENTS record folded as it arrives; at the
    end of EVENTS the second replay starts; then the INTENTS records; then, with what the reader
    found (the hash chain over the bytes it read, removed sequences), the findings and the report,
    and whether the replays agree."""

    def __init__(self, *, account: str | None, since: datetime | None) -> None:
        self.account, self.since = account, since
        self.intents: list[chain.Stored] = []
        self.fold = _Fold()
        self.second: Callable[[], str] | None = None

    async def connect(self) -> None:
        pass  # as _ForkedAudit's: nothing to set up here

    def take_event(self, record: chain.Stored) -> None:
        self.fold.take(record)

    def events_done(self) -> None:
        self.second = _second_replay(self.fold.events)

    def take_intent(self, record: chain.Stored) -> None:
        self.intents.append(record)

    async def finish(self, broken: list[audit.Finding]) -> tuple[audit.AuditReport, bool]:
        return self.result(broken)

    def result(self, broken: list[audit.Finding]) -> tuple[audit.AuditReport, bool]:
        if self.second is None:
            self.events_done()
        assert self.second is not None
        first = self.fold.state
        breaks = (broken
                  + self.fold.unreadable
                  # --since cuts EVENTS and INTENTS at the same time: an intent stored just before
                  # the cut may have its answer just after it, so the check needs both from the start.
                  + (audit.unanswered_findings(self.intents, first, account=self.account)
                     if self.since is None else []))
        report = audit.check(first, account=self.account, chain_breaks=breaks)
        return report, self.second() == report.state_hash

    def abandon(self) -> None:
        if self.second is not None:
            self.second()  # not left behind


# Frames to the forked audit: kind (1 byte), payload size (4 bytes), payload (MessagePack).
_EVENTS, _EVENTS_DONE, _INTENTS, _FINISH = b"E", b"D", b"I", b"X"
_BATCH = 1_000  # records per frame: few enough writes, small enough to keep the copy busy early
_records_of = msgspec.msgpack.Decoder(list[chain.Stored])
_broken_of = msgspec.msgpack.Decoder(list[audit.Finding])
_result_of = msgspec.msgpack.Decoder(tuple[audit.AuditReport, bool])


class _ForkedAudit:
    """The same work in a forked copy of this process, fed through a pipe. Reading the streams
    (the nats client) and decoding and folding the events were each about half of the audit on
    one core; so this process only reads and forwards the bytes, and the copy decodes and folds
    them as they come, on the other core. The forwarding never blocks (an asyncio pipe transport
    buffers what the copy has not taken yet): a copy that folds slower than the stream is read
    does not hold up the reading, nor the chain check done here meanwhile."""

    def __init__(self, *, account: str | None, since: datetime | None) -> None:
        work = _Audit(account=account, since=since)
        to_read, to_write = os.pipe()
        back_read, back_write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the copy: serve, answer, exit at once (never back into the event loop)
            code = 1
            try:
                # Ctrl-C is the reader's to report; the copy ends when the reader closes the pipe.
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                os.close(to_write)
                os.close(back_read)
                with os.fdopen(to_read, "rb") as inp, os.fdopen(back_write, "wb") as out:
                    _serve(work, inp, out)
                code = 0
            except BaseException:  # noqa: BLE001 - the parent reports a copy that gave no answer
                traceback.print_exc()
                sys.stderr.flush()
            finally:
                os._exit(code)
        os.close(to_read)
        os.close(back_write)
        self.pid = pid
        self.to_fd = to_write
        self.to: asyncio.WriteTransport | None = None
        self.pipe: _PipeClosed | None = None
        self.back = os.fdopen(back_read, "rb")
        self.batch: list[chain.Stored] = []
        self.kind = _EVENTS

    async def connect(self) -> None:
        with contextlib.suppress(ImportError, AttributeError, OSError):  # fewer, larger writes (Linux)
            import fcntl
            fcntl.fcntl(self.to_fd, fcntl.F_SETPIPE_SZ, 1 << 20)
        loop = asyncio.get_running_loop()
        self.to, self.pipe = await loop.connect_write_pipe(_PipeClosed, os.fdopen(self.to_fd, "wb"))

    def _send(self, kind: bytes, payload: bytes) -> None:
        assert self.to is not None, "connect() first"
        self.to.write(kind + len(payload).to_bytes(4, "big") + payload)

    def _flush(self) -> None:
        if self.batch:
            self._send(self.kind, msgspec.msgpack.encode(self.batch))
            self.batch = []

    def take_event(self, record: chain.Stored) -> None:
        self.batch.append(record)
        if len(self.batch) >= _BATCH:
            self._flush()

    def events_done(self) -> None:
        self._flush()
        self._send(_EVENTS_DONE, b"")  # the copy starts the second replay while INTENTS is read
        self.kind = _INTENTS

    take_intent = take_event

    async def finish(self, broken: list[audit.Finding]) -> tuple[audit.AuditReport, bool]:
        self._flush()
        self._send(_FINISH, msgspec.msgpack.encode(broken))
        assert self.to is not None and self.pipe is not None
        self.to.close()  # writes out what the copy has not taken yet, then closes
        await self.pipe.closed
        with self.back:
            answer = self.back.read()  # nothing else to do meanwhile: the stream is read
        _, status = os.waitpid(self.pid, 0)
        if not answer:
            raise RuntimeError(f"the audit's replay process gave no answer (wait status {status})")
        return _result_of.decode(answer)

    def abandon(self) -> None:
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        if self.to is not None:
            self.to.abort()
        else:
            os.close(self.to_fd)
        self.back.close()


class _PipeClosed(asyncio.Protocol):
    """The write end of the pipe to the copy: ``closed`` is done once a close has written out
    everything buffered (or the copy went away)."""

    def __init__(self) -> None:
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


def _serve(work: _Audit, inp: BinaryIO, out: BinaryIO) -> None:
    """The forked audit: frames in until FINISH, then the report and whether the replays agree."""
    while True:
        head = inp.read(5)
        if len(head) < 5:
            return  # the reader gave up (it reports why): nothing to answer
        kind, size = head[:1], int.from_bytes(head[1:], "big")
        payload = inp.read(size)
        if len(payload) < size:
            return  # cut short: the reader ended mid-frame (Ctrl-C), nothing to answer
        if kind == _EVENTS:
            for record in _records_of.decode(payload):
                work.take_event(record)
        elif kind == _INTENTS:
            for record in _records_of.decode(payload):
                work.take_intent(record)
        elif kind == _EVENTS_DONE:
            work.events_done()
        else:
            out.write(msgspec.msgpack.encode(work.result(_broken_of.decode(payload))))
            return


def _start(*, account: str | None, since: datetime | None) -> _Audit | _ForkedAudit:
    """The audit's work, forked where there is fork (else done here, after each read)."""
    return _ForkedAudit(account=account, since=since) if hasattr(os, "fork") else _Audit(account=account, since=since)


async def _replay(nc: NATS, args: argparse.Namespace, since: datetime | None,
                  work: _Audit | _ForkedAudit) -> int:
    try:
        shown = Progress("reading EVENTS", enabled=not args.json)
        records = await read_events(nc.jetstream(), account=args.account, since=since,
                                    progress=shown.update, each=work.take_event)
        shown.done()
        work.events_done()
        # Here, over the bytes as read, while the work folds (the copy's is over what it was sent).
        broken = audit.chain_findings(records, anchored=since is None)
        del records
        removed = await bus.removed_sequences(nc, EVENTS_STREAM)
        shown = Progress("reading INTENTS", enabled=not args.json)
        intents = await read_intents(nc.jetstream(), account=args.account, since=since,
                                     progress=shown.update)
        shown.done()
    except READ_ERRORS as exc:
        work.abandon()
        return read_failed("janus audit replay", exc)
    finally:
        await nc.close()
    for record in intents:
        work.take_intent(record)
    report, agree = await work.finish(broken + audit.removal_findings(EVENTS_STREAM, removed))
    if args.json:
        print(msgspec.json.encode({"report": report, "replays_agree": agree}).decode())
    else:
        print(report_text(report, agree))
    return EXIT_OK if report.clean and agree else EXIT_VIOLATIONS


def add(sub: argparse._SubParsersAction[argparse.ArgumentParser],
        nats_url: Callable[[argparse.Namespace], str]) -> None:
    audit_parser = sub.add_parser("audit", help="audit the event history")
    audit_sub = audit_parser.add_subparsers(dest="audit_command", required=True)
    replay = audit_sub.add_parser("replay", help="rebuild orders and positions from EVENTS and check invariants "
                                                 "(and that every intent in INTENTS was answered)",
                                  description="exit codes: 0 clean, 6 invariant violated, 1 nothing recorded, 2 usage, "
                                              "3 unreachable, 4 reading failed")
    replay.add_argument("--account", default=None)
    replay.add_argument("--since", default=None, help="ISO time, e.g. 2026-11-24T09:00:00+00:00")
    replay.set_defaults(run=lambda a: replay_command(a, nats_url(a)))
