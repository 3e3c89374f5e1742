"""The suite refuses skips without a reason (tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

CONFTEST = (Path(__file__).parents[1] / "conftest.py").read_text()

pytest_plugins = ["pytester"]


def test_a_skip_without_reason_fails_the_run(pytester):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("x", [])
        def test_nothing(x):
            assert x
        """
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*skipped without a recorded reason*"])


def test_a_skip_with_a_reason_passes(pytester):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(
        """
        import pytest

        def test_explained():
            pytest.skip("needs a GPU; this machine has none")
        """
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    assert result.ret == 0
