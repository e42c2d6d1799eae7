"""The node's log says a search refusal in its users' words, not the engine's API."""

from __future__ import annotations

import pytest

from engine.errors import SearchError
from engine.hetero.features import require_described
from engine.specification.semantic import InputSpec, SemanticSpec
from lwnode.federation.layer import in_operator_words


def test_a_refusal_for_undescribed_columns_names_the_toml_table_not_python():
    semantic = SemanticSpec(input=InputSpec.from_columns(["a", "b"]))
    with pytest.raises(SearchError) as caught:
        require_described(semantic)  # the message a peer's search is answered empty with
    logged = in_operator_words(str(caught.value))
    assert "InputSpec" not in logged and "from_columns" not in logged
    assert "[input.columns] table: column name = \"description\"" in logged
    assert "missing for a, b" in logged  # which columns, as before
