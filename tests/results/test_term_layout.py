"""lme4's order of the random terms (results/term_layout.py)."""

from __future__ import annotations

import numpy as np
import pytest

from hglm.results import reorder_theta


def test_reorder_theta_moves_a_vector_terms_entries_together() -> None:
    # the model's order: (1|h) (one entry), then (1 + x|g) (three); lme4's puts g first
    theta = np.array([0.5, 1.2, 0.25, 0.4])
    lme4 = reorder_theta(theta, [1, 3], [1, 0])
    np.testing.assert_array_equal(lme4, [1.2, 0.25, 0.4, 0.5])
    np.testing.assert_array_equal(reorder_theta(lme4, [3, 1], np.argsort([1, 0])), theta)


def test_reorder_theta_names_the_count_it_needs() -> None:
    with pytest.raises(ValueError, match="theta needs 4 values"):
        reorder_theta(np.ones(3), [1, 3], [1, 0])
