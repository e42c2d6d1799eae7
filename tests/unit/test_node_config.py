"""NodeConfig: defaults < node.toml < LWDOCK_* < flags; every bad value names its source."""

from __future__ import annotations

from pathlib import Path

import pytest

from lwnode.config import NodeConfig, load_config, render_toml
from lwnode.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path, text):
    path = tmp_path / "node.toml"
    path.write_text(text)
    return path


def test_no_file_and_no_environment_gives_the_defaults(tmp_path):
    config = load_config(tmp_path / "absent.toml", env={})
    assert config == NodeConfig()
    assert config.http.host == "127.0.0.1" and config.http.port == 8470
    assert config.public_url() == "http://127.0.0.1:8470"
    assert config.organization  # the host name when none is configured


def test_sources_override_in_order(tmp_path):
    path = write(tmp_path, '[http]\nport = 9001\nhost = "0.0.0.0"\n[node]\norganization = "A"\n')
    env = {"LWDOCK_HTTP_PORT": "9002", "LWDOCK_CHECKS_ALLOW_CODE": "yes",
           "LWDOCK_P2P_BOOTSTRAP": "/ip4/10.0.0.1/tcp/1, /ip4/10.0.0.2/tcp/1",
           "LWDOCK_HOME": "/somewhere", "PATH": "/bin"}
    config = load_config(path, env=env, overrides={"http": {"port": 9003}, "p2p": {}})
    assert config.http.port == 9003 and config.http.host == "0.0.0.0"
    assert config.checks.allow_code is True
    assert config.p2p.bootstrap == ("/ip4/10.0.0.1/tcp/1", "/ip4/10.0.0.2/tcp/1")
    assert config.organization == "A"
    assert load_config(path, env=env).http.port == 9002
    assert config.public_url(port=1234).endswith(":1234")


@pytest.mark.parametrize(("text", "message"), [
    ("[http]\nprot = 1\n", r"node.toml \[http\]: unknown key 'prot'"),
    ("[htp]\nport = 1\n", r"unknown section \[htp\]"),
    ("[http]\nport = 'x'\n", r"\[http\] port: expected an integer, got 'x'"),
    ("[http]\nport = 70000\n", r"\[http\] port: 70000 is outside 0..65535"),
    ("[http]\nopen_reads = 1\n", "expected true or false"),
    ("[checks]\nisolation = 'vm'\n", "'vm' is not one of 'process', 'thread'"),
    ("[p2p]\nbootstrap = 'x'\n", "expected a list of strings"),
    ("[p2p]\nannounce_addrs = ['/ip4/0.0.0.0/tcp/4001']\n",
     r"\[p2p\] announce_addrs: .*cannot be dialled"),
    ("[p2p]\nannounce_addrs = ['/dns4/example.org/tcp/4001']\n",
     r"\[p2p\] announce_addrs: .*is not /ip4\|ip6"),
    ("[checks]\ntime_limit = 0\n", "outside 0.1.."),
    ("http = 3\n", r"\[http\]: expected a table"),
    ("[http\n", "not valid TOML"),
])
def test_bad_file_values_name_file_section_and_key(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, text), env={})


@pytest.mark.parametrize(("env", "message"), [
    ({"LWDOCK_HTTP_PROT": "1"}, "LWDOCK_HTTP_PROT: not a setting"),
    ({"LWDOCK_FOO": "1"}, "LWDOCK_FOO: not a setting"),
    ({"LWDOCK_HTTP_PORT": "eighty"}, "LWDOCK_HTTP_PORT.*expected an integer"),
    ({"LWDOCK_HTTP_OPEN_READS": "maybe"}, "expected true or false"),
    ({"LWDOCK_CHECKS_TIME_LIMIT": "soon"}, "expected a number"),
])
def test_bad_environment_values_name_the_variable(env, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, env=env)


def test_every_setting_can_be_set_from_the_environment_sections_with_underscores_too():
    from lwnode.config import SECTIONS, _env_values, _fields

    assert any("_" in name for name in SECTIONS)  # peer_limits
    for section, kind in SECTIONS.items():
        for key in _fields(kind):
            name = f"LWDOCK_{section}_{key}".upper()
            assert _env_values({name: "x"}) == ({section: {key: "x"}}, [name])
    config = load_config(None, env={"LWDOCK_PEER_LIMITS_MAX_RECORDS_PER_OWNER": "5000"})
    assert config.peer_limits.max_records_per_owner == 5000


def test_bad_flag_values_are_refused():
    with pytest.raises(ConfigError, match="command line"):
        load_config(None, env={}, overrides={"http": {"port": -1}})


def test_a_named_config_file_must_exist(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "missing.toml", env={}, require_file=True)


def test_the_documented_example_is_the_rendered_defaults_and_loads_as_them(tmp_path):
    documented = (REPO / "configs" / "node.toml").read_text()
    assert documented == render_toml(), "regenerate configs/node.toml with render_toml()"
    assert load_config(REPO / "configs" / "node.toml", env={}) == NodeConfig()
    for section in ("node", "http", "p2p", "search", "checks", "store", "log"):
        assert f"[{section}]" in documented


def test_render_round_trips_a_changed_config(tmp_path):
    config = load_config(None, env={}, overrides={"node": {"organization": 'Q "quoted" org'},
                                                  "p2p": {"listen": ["/ip4/0.0.0.0/tcp/4001"]}})
    path = write(tmp_path, render_toml(config))
    assert load_config(path, env={}) == config
