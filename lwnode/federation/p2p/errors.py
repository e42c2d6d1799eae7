"""Errors of the peer layer.

Every failure of a remote call is a `PeerError`, so federation code wraps a call in
one ``except PeerError`` and treats the peer as missing. The subclasses say why,
because the caller reacts differently: a timeout names a slow peer (the answer is
partial), an unreachable peer is skipped at once, an oversize frame is a bug or an
attack on one side.
"""

from __future__ import annotations

from engine.errors import LwdockError
from lwnode.errors import Busy as NodeBusy


class PeerError(LwdockError):
    """A remote call or a connection failed; the message names the peer."""


class PeerUnreachable(PeerError):
    """No connection to the peer (unknown, dead, refused, or closed mid-call)."""


class PeerTimeout(PeerError, TimeoutError):
    """The peer did not answer within the call's deadline."""


class ProtocolNotSupported(PeerError):
    """The peer does not serve the requested protocol id."""


class FrameTooLarge(PeerError, ValueError):
    """A frame or gossip message above the size cap (refused before it is sent or read)."""


class NetworkClosed(PeerError):
    """The local network is not started, or is stopped."""


class Busy(PeerError, NodeBusy):
    """Too many calls in flight on this node; retry later.

    Also the node's `lwnode.errors.Busy`, so one ``except Busy`` (and the HTTP error
    table's one row, 503 ``busy``) covers both the node and its peer layer.
    """
