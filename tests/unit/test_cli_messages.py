"""The command line's messages name its own flags, not HTTP or engine terms."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from lwnode.cli.common import command_typed, wrong_token_hint
from lwnode.errors import InputError
from lwnode.userside.local import make_spec
from lwnode.userside.tabular import Table


def test_a_refused_token_is_explained_by_where_it_came_from(tmp_path, monkeypatch):
    monkeypatch.delenv("LWDOCK_TOKEN", raising=False)
    monkeypatch.delenv("LWDOCK_NODE", raising=False)
    given = argparse.Namespace(node="http://127.0.0.1:1", home=str(tmp_path), token="x")
    assert wrong_token_hint(given).startswith("the node refused the API token from --token")
    monkeypatch.setenv("LWDOCK_TOKEN", "y")
    env = argparse.Namespace(node="http://127.0.0.1:1", home=str(tmp_path), token=None)
    assert "from $LWDOCK_TOKEN" in wrong_token_hint(env)
    reader = argparse.Namespace(node="http://127.0.0.1:1", home=str(tmp_path))  # list, show
    assert "answers only with its API token ([http] open_reads = false)" in \
        wrong_token_hint(reader)


def test_errors_name_the_command_typed():
    assert command_typed(argparse.Namespace(command="spec", spec_command="make")) == \
        "lwnode spec make"
    assert command_typed(argparse.Namespace(command="cache", cache_command=None)) == \
        "lwnode cache"


def test_a_spec_error_names_no_internal_variable():
    """The engine calls the rows "X"; the command line names them by their file, so the
    message keeps only what is wrong and what to do."""
    with pytest.raises(InputError) as few:
        make_spec(Table(np.ones((3, 4))))
    assert str(few.value).startswith("3 row(s) are too few"), few.value
    with pytest.raises(InputError) as huge:
        make_spec(Table(np.full((40, 4), 1e200)))
    assert str(huge.value).startswith("160 value(s) beyond ±1e+38"), huge.value
