"""The network demo's data sets: what each gives the user, and a clear error when a
data set's optional packages are missing."""

import re

import pytest

from lwnode.demo import data as demo_data
from lwnode.demo.network import run_network_demo
from lwnode.errors import InputError


def test_a_missing_package_is_one_line_naming_the_extra():
    with pytest.raises(InputError, match=r"needs no_such_pkg_xyz: install the 'demo' extra "
                                         r"\(pip install -e \"\.\[demo\]\"\)"):
        demo_data.require(("numpy", "no_such_pkg_xyz"), "demo", "tabular")


async def test_an_unknown_data_set_is_refused_before_anything_starts():
    with pytest.raises(InputError, match="--data: expected one of image, tabular, text"):
        await run_network_demo(data="audio")


def test_reviews_are_labelled_by_the_one_product_kind_they_name():
    texts, kind = demo_data.reviews_by_kind(20, seed=0)
    assert len(texts) == 20 * len(demo_data.KINDS)
    for text, k in zip(texts, kind, strict=True):
        named = [name for name, p in demo_data.KINDS.items() if re.search(p, text.lower())]
        assert named == [k] or not named  # cut to REVIEW_CHARS, the word may fall off
        assert len(text) <= demo_data.REVIEW_CHARS
