"""`lwnode.http.errors.status_of`: one table for the API and the web routes."""

from __future__ import annotations

import pytest

from engine.errors import PackageError, ReuseError, SpecError
from lwnode.errors import (
    BadRequest,
    Busy,
    CrossOrigin,
    FetchFailed,
    InputError,
    JobFailed,
    NodeError,
    NodeUnreachable,
    NotFound,
    RequestFailed,
    StoreError,
    UnknownHost,
)
from lwnode.federation.p2p.errors import Busy as PeerBusy
from lwnode.http.errors import status_of
from protocol.errors import SignatureError


@pytest.mark.parametrize(("exc", "expected"), [
    (BadRequest("k"), (400, "bad_request")),
    (InputError("x.csv"), (400, "bad_input")),
    (SpecError("gamma"), (400, "bad_spec")),
    (PackageError("zip"), (400, "bad_package")),
    (SignatureError("sig"), (400, "bad_signature")),
    (ReuseError("labels"), (400, "bad_request")),  # an input error of ours without a row
    (NotFound("id"), (404, "not_found")),
    (CrossOrigin("page"), (403, "cross_origin")),
    (UnknownHost("evil"), (421, "unknown_host")),
    (Busy("stopping"), (503, "busy")),
    (PeerBusy("64 calls pending"), (503, "busy")),  # the peer layer's Busy is the node's
    (JobFailed(504, "timeout", "slow"), (504, "timeout")),
    (JobFailed(422, "reuse_failed", "model"), (422, "reuse_failed")),
    (RequestFailed("gone", 410, "withdrawn"), (410, "withdrawn")),
    (RequestFailed("oops", 500, "internal"), (502, "fetch_failed")),
    (NodeUnreachable("refused"), (502, "unreachable")),
    (FetchFailed("did not verify"), (502, "fetch_failed")),
    # bugs: not input, whatever their class says
    (ValueError("deep inside"), (500, "internal")),
    (KeyError("x"), (500, "internal")),
    (StoreError("corrupt"), (500, "internal")),
    (NodeError("unexpected"), (500, "internal")),
])
def test_status_of(exc, expected):
    assert status_of(exc) == expected


def test_job_failed_is_in_the_error_tree():
    from lwnode.http.web.worker import JobFailed as WorkerJobFailed

    assert WorkerJobFailed is JobFailed and issubclass(JobFailed, NodeError)
