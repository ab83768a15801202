"""The Webull gateway's token folder (the SDK keeps a bearer token there) is private: janus-run's
folder under .janus/, else the user's runtime folder, else a per-user folder in the temp dir;
one that other users can reach is a configuration error, not a folder to use."""

from __future__ import annotations

import os
import stat
import tempfile

import pytest

from janus_common.config import ConfigError
from janus_webull_gateway.main import token_dir


def _private(path: str) -> bool:
    st = os.stat(path)
    return stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == os.geteuid()


def test_tokens_go_where_janus_run_says_else_to_a_per_user_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("JANUS_WEBULL_TOKEN_DIR", str(tmp_path / "janus" / "webull-tokens"))
    path = token_dir("wb-1")
    assert path == str(tmp_path / "janus" / "webull-tokens" / "wb-1") and _private(path)
    assert _private(str(tmp_path / "janus" / "webull-tokens"))

    monkeypatch.delenv("JANUS_WEBULL_TOKEN_DIR")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    assert token_dir("wb-1") == str(tmp_path / "run" / "janus-webull-tokens" / "wb-1")

    monkeypatch.delenv("XDG_RUNTIME_DIR")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    path = token_dir("wb-1")
    assert path == str(tmp_path / "tmp" / f"janus-{os.geteuid()}" / "webull-tokens" / "wb-1")
    assert _private(str(tmp_path / "tmp" / f"janus-{os.geteuid()}"))


def test_a_folder_others_can_reach_is_refused(tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    monkeypatch.setenv("JANUS_WEBULL_TOKEN_DIR", str(shared))
    with pytest.raises(ConfigError) as err:
        token_dir("wb-1")
    assert err.value.key == "JANUS_WEBULL_TOKEN_DIR" and "other users" in err.value.reason
    assert not (shared / "wb-1").exists()
