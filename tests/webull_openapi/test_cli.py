"""The console script: a real process, configured by flags and a TOML file, driven by the SDK."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import logging
import os

from webull.core.client import ApiClient
from webull.trade.trade_client import TradeClient

SCRIPT = Path(sys.executable).with_name("janus-webull-sim")


def _listening(proc: subprocess.Popen, lines: list[str]) -> dict:
    for line in proc.stderr:
        lines.append(line)
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("event") == "listening":
            return record
    raise AssertionError("the simulator never said it was listening")


def test_cli_with_config_file(tmp_path):
    cfg = tmp_path / "sim.toml"
    cfg.write_text(
        'tick_interval = 0.05\n'
        '[[accounts]]\naccount_id = "CLIACCT1"\naccount_number = "9"\ncash = "5000.00"\n'
    )
    proc = subprocess.Popen(
        [str(SCRIPT), "--host", "127.0.0.1", "--port", "0", "--grpc-port", "0", "--config", str(cfg),
         "--app-key", "cli-key", "--app-secret", "cli-very-secret"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, cwd=tmp_path)
    lines: list[str] = []
    try:
        rec = _listening(proc, lines)
        assert rec["grpc_port"] > 0 and rec["account_id"] == "CLIACCT1"
        api = ApiClient("cli-key", "cli-very-secret", "us", port=rec["http_port"])
        api.add_endpoint("us", "127.0.0.1")
        api.set_stream_logger(log_level=logging.CRITICAL, stream=open(os.devnull, "w"))
        trade = TradeClient(api)
        assert trade.account_v2.get_account_balance("CLIACCT1").json()["total_cash_balance"] == "5000.00"
    finally:
        proc.send_signal(signal.SIGTERM)
        rest = proc.communicate(timeout=10)[1]
    assert proc.returncode == 0
    assert not [line for line in lines + [rest] if "cli-very-secret" in line]
