"""What every public entry point says when it is called wrongly.

The table ``BAD_INPUT_CASES`` is data: one row per (entry point, mistake) with the
error class that must be raised and a fragment its message must contain. The book's
reference page renders the same table (entry, problem, error, message).
"""

from __future__ import annotations

import re

import pytest

from bad_input_cases import BAD_INPUT_CASES, BadInputCase
from tfsvm import errors


@pytest.mark.parametrize("case", BAD_INPUT_CASES, ids=lambda c: c.id)
def test_bad_input_raises_documented_error(case: BadInputCase):
    with pytest.raises(getattr(errors, case.error), match=re.escape(case.message)):
        case.call()


def test_bad_input_table_ids_are_unique():
    ids = [case.id for case in BAD_INPUT_CASES]
    assert len(ids) == len(set(ids))
