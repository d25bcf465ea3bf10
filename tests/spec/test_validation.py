"""Tests of ``hglm.spec.validation``: the check of binomial counts (the other checks are
tested through the public API, ``tests/test_api.py``)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from hglm.spec.validation import check_binomial_counts, noninteger_successes


def test_whole_numbers_of_successes_pass() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_binomial_counts(np.array([0.0, 1.0, 1.0]), np.ones(3))
        check_binomial_counts(np.array([1, 2, 3]) / 7, np.full(3, 7.0))  # r/n with n trials
        check_binomial_counts(np.array([0.25, 0.5]), np.array([4.0, 2.0]))


def test_non_integer_successes_warn_as_r() -> None:
    with pytest.warns(UserWarning, match=r"non-integer #successes in a binomial glm! \(2 of 3"):
        check_binomial_counts(np.array([0.3, 1.0, 0.5]), np.ones(3))
    with pytest.warns(UserWarning, match=r"non-integer #successes.*1 of 2 rows.*= 1.5 "):
        check_binomial_counts(np.array([0.5, 0.5]), np.array([3.0, 4.0]))


def test_noninteger_successes_flags_rows() -> None:
    flags = noninteger_successes(np.array([0.5, 0.5, 1 / 3, 0.3]), np.array([2.0, 3.0, 3.0, 1.0]))
    np.testing.assert_array_equal(flags, [False, True, False, True])
