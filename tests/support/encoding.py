"""Hypothesis strategies for JSON values that stress canonical encoding.

Shared by several test modules (moved from tests/ledger/test_encoding.py).
"""

from __future__ import annotations

from hypothesis import strategies as st

any_text = st.text(
    alphabet=st.characters(codec=None, exclude_categories=()),  # surrogates and controls too
    max_size=12,
)


# keys whose UTF-16 order differs from their code point order, so that a wrong sort shows
tricky_keys = st.text(
    alphabet=st.sampled_from(["a", "é", "\ue000", "\uffff", "\U00010000", "\U0001f600"]),
    min_size=1,
    max_size=3,
)


fast_or_not = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53) - 2, 2**53 + 2)
    | st.sampled_from([2**53 - 1, 2**53, -(2**53) + 1, -(2**53)])  # the safe-integer edge
    | st.floats(allow_nan=False, allow_infinity=False)
    | any_text,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=6) | any_text, inner, max_size=4)
        | st.dictionaries(tricky_keys, inner, min_size=2, max_size=4)
    ),
    max_leaves=25,
)
