"""NodeHome: init writes key, token and config with private modes and never replaces a key."""

from __future__ import annotations

import os
import stat

import pytest

from lwnode.errors import HomeError
from lwnode.home import NodeHome, default_home


def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_init_creates_a_private_home(tmp_path):
    home = NodeHome(tmp_path / "h")
    identity = home.init("Acme Research", http={"port": 9100})
    assert mode(home.path) == 0o700
    assert mode(home.key_path) == 0o600 and mode(home.token_path) == 0o600
    assert home.identity().node_id == identity.node_id
    assert len(home.token()) >= 40
    config = home.config(env={})
    assert config.organization == "Acme Research" and config.http.port == 9100


def test_init_refuses_to_replace_a_key(tmp_path):
    home = NodeHome(tmp_path / "h")
    first = home.init("A")
    token = home.token()
    with pytest.raises(HomeError, match="refusing to replace"):
        home.init("B")
    assert home.identity().node_id == first.node_id and home.token() == token
    assert home.config(env={}).organization == "A"


def test_a_token_others_can_read_is_refused(tmp_path):
    home = NodeHome(tmp_path / "h")
    home.init("A")
    os.chmod(home.token_path, 0o644)
    with pytest.raises(HomeError, match="chmod 600"):
        home.token()
    os.chmod(home.key_path, 0o640)
    with pytest.raises(HomeError, match="chmod 600"):
        home.identity()


def test_missing_key_and_token_say_how_to_fix(tmp_path):
    home = NodeHome(tmp_path / "empty")
    with pytest.raises(HomeError, match="lwnode init"):
        home.identity()
    with pytest.raises(HomeError, match="lwnode init"):
        home.token()


def test_ensure_makes_a_fresh_home_usable_without_config(tmp_path):
    home = NodeHome(tmp_path / "fresh")
    assert home.ensure() and not home.ensure()
    assert home.identity() and home.token() and not home.config_path.exists()
    assert home.config(env={}).http.port == 8470


def test_url_file_round_trip_and_default_home(tmp_path):
    home = NodeHome(tmp_path / "h")
    home.ensure()
    assert home.read_url() is None
    home.write_url("http://127.0.0.1:1234")
    assert home.read_url() == "http://127.0.0.1:1234"
    home.clear_url()
    assert home.read_url() is None
    assert default_home({"LWDOCK_HOME": str(tmp_path)}) == tmp_path
    assert default_home({}).name == ".lwdock"
