"""The console script: a real process, configured by flags and a TOML file, driven by the SDK."""

from __future__ import annotations

from webull.trade.trade_client import TradeClient

from conftest import make_api
from sim_process import SimProcess


def test_cli_with_config_file(tmp_path):
    cfg = tmp_path / "sim.toml"
    cfg.write_text(
        'tick_interval = 0.05\n'
        '[[accounts]]\naccount_id = "CLIACCT1"\naccount_number = "9"\ncash = "5000.00"\n'
    )
    with SimProcess("--config", str(cfg), "--app-key", "cli-key", "--app-secret", "cli-very-secret",
                    cwd=tmp_path) as sim:
        rec = sim.wait_for("listening")
        assert rec["grpc_port"] > 0 and rec["account_id"] == "CLIACCT1"
        api = make_api(None, key="cli-key", secret="cli-very-secret", port=rec["http_port"])
        balance = TradeClient(api).account_v2.get_account_balance("CLIACCT1").json()
        assert balance["total_cash_balance"] == "5000.00"
        assert sim.stop() == 0
    assert not [line for line in sim.lines if "cli-very-secret" in line]
