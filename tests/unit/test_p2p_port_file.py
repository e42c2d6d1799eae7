"""`stable_listen`: port 0 is resolved once, kept in the home, and replaced if taken."""

from __future__ import annotations

import logging
import socket

from lwnode.federation.stableport import PORT_FILE, stable_listen


def port_of(addr: str) -> int:
    return int(addr.split("/tcp/")[1].split("/")[0])


def test_port_zero_is_chosen_once_and_kept(tmp_path):
    (addr,) = stable_listen(tmp_path, ["/ip4/127.0.0.1/tcp/0"])
    port = port_of(addr)
    assert port > 0 and (tmp_path / PORT_FILE).read_text().strip() == str(port)
    assert stable_listen(tmp_path, ["/ip4/127.0.0.1/tcp/0"]) == (addr,)


def test_explicit_ports_and_other_transports_are_left_alone(tmp_path):
    listen = ["/ip4/127.0.0.1/tcp/4001", "/ip4/127.0.0.1/udp/0/quic"]
    assert stable_listen(tmp_path, listen) == tuple(listen)
    assert not (tmp_path / PORT_FILE).exists()


def test_a_kept_port_in_use_is_replaced_with_a_warning(tmp_path, caplog):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        (tmp_path / PORT_FILE).write_text(f"{taken}\n")
        with caplog.at_level(logging.WARNING, logger="lwnode"):
            (addr,) = stable_listen(tmp_path, ["/ip4/127.0.0.1/tcp/0"])
    assert port_of(addr) != taken
    assert (tmp_path / PORT_FILE).read_text().strip() == str(port_of(addr))
    assert "in use" in caplog.text and "[p2p] listen" in caplog.text
