"""``janus-webull-sim`` as a real process; its JSON log lines are read on a thread as it writes them
(a pipe nobody drains would stall the simulator once full)."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

SCRIPT = Path(sys.executable).with_name("janus-webull-sim")


class SimProcess:
    def __init__(self, *args: str, cwd: Path):
        self.proc = subprocess.Popen(
            [str(SCRIPT), "--host", "127.0.0.1", "--port", "0", "--grpc-port", "0", *args],
            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, cwd=cwd)
        self.lines: list[str] = []
        self.records: list[dict] = []
        self._fresh: queue.Queue[dict | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line)
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                self.records.append(record)
                self._fresh.put(record)
        self._fresh.put(None)

    def wait_for(self, event: str, timeout: float = 20.0) -> dict:
        """The next log record named ``event``; fails if the process ends or stays silent first."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                record = self._fresh.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {event} within {timeout}s: {self.lines}") from None
            if record is None:
                raise AssertionError(f"the simulator ended before logging {event}: {self.lines}")
            if record.get("event") == event:
                return record

    def logged(self, event: str) -> list[dict]:
        return [r for r in self.records if r.get("event") == event]

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        """Signal the process, wait for it to end and for its last log line to be read."""
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=15)
        self._reader.join(timeout=5)
        return code

    def __enter__(self) -> SimProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
