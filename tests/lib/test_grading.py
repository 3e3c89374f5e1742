"""tfsvm.grading: the hidden tests' guard against answers that call the library's reference."""

from __future__ import annotations

import copy
import importlib
import types

import numpy as np
import pytest

import tfsvm.tokens as tokens_alias
from tfsvm import grading, svm, tokens

SCORES = np.array([[0.1, 0.7, -0.2], [1.0, 0.0, 0.5]])


def _routes():
    """Every route by which an answer can reach tokens.optimal_tokens, bound before the block."""
    return {
        "direct": lambda s: tokens.optimal_tokens(s),
        "module alias": lambda s: tokens_alias.optimal_tokens(s),
        "importlib": lambda s: importlib.import_module("tfsvm.tokens").optimal_tokens(s),
        "name bound to the object": tokens.optimal_tokens,
        "copy.copy": copy.copy(tokens.optimal_tokens),
        "FunctionType copy": types.FunctionType(
            tokens.optimal_tokens.__code__, tokens.optimal_tokens.__globals__, argdefs=tokens.optimal_tokens.__defaults__
        ),
    }


@pytest.mark.parametrize("route", sorted(_routes()))
def test_forbid_blocks_every_route_and_restores_on_exit(route):
    answer = _routes()[route]
    expected = tokens.optimal_tokens(SCORES)
    with grading.forbid("tfsvm.tokens.optimal_tokens"):
        with pytest.raises(RuntimeError, match="tfsvm.tokens.optimal_tokens is the library's reference"):
            answer(SCORES)
    np.testing.assert_array_equal(answer(SCORES), expected)


def test_forbid_restores_the_code_when_the_block_raises():
    with pytest.raises(KeyError):
        with grading.forbid("tfsvm.svm.att_features"):
            raise KeyError("inside")
    F, rows = svm.att_features(np.eye(3)[None], np.ones((1, 3)), np.array([0]))
    assert F.shape == (2, 3, 3) and rows.shape == (2, 2)


def test_forbid_leaves_other_functions_alone():
    with grading.forbid("tfsvm.tokens.optimal_tokens"):
        s = tokens.token_scores(np.eye(3)[None], np.array([1.0]), np.array([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(s, [[1.0, 2.0, 3.0]])


@pytest.mark.parametrize(
    ("name", "error"),
    [("optimal_tokens", ValueError), ("tfsvm.tokens.no_such_function", TypeError), ("tfsvm.svm.SVMSolution", TypeError)],
)
def test_forbid_rejects_names_that_are_not_plain_functions(name, error):
    with pytest.raises(error, match="forbid"):
        with grading.forbid(name):
            pass


def test_substitute_rebinds_a_global_name_of_the_function_and_restores_it():
    namespace = {"helper": lambda: "student"}
    exec("def answer():\n    return helper()\n", namespace)  # a notebook function looking up `helper`
    with grading.substitute(namespace["answer"], helper=lambda: "reference", extra=1):
        assert namespace["answer"]() == "reference" and namespace["extra"] == 1
    assert namespace["answer"]() == "student" and "extra" not in namespace


def test_substitute_rejects_objects_without_globals():
    with pytest.raises(TypeError, match="substitute"):
        with grading.substitute(len, helper=None):
            pass
