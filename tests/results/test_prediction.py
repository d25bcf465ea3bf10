"""re.form and the random part of the linear predictor (hglm.results.prediction)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hglm.engine import Indicator
from hglm.results.prediction import (
    mean_v,
    population_frame,
    random_part,
    re_form_population,
    term_slices,
)

from .marginal_cases import inverse_gamma_result, lmm_fit


def test_re_form_values():
    assert not re_form_population(None)
    for value in ("NA", "~0", "~ 0", " ~0 ", np.nan):
        assert re_form_population(value)
    for bad in ("~ (1|g)", 0, "NULL"):
        with pytest.raises(ValueError, match="re_form"):
            re_form_population(bad)


def test_random_part_over_indicator_and_dense_blocks():
    codes = np.array([0, 1, 1, 2])
    dense = np.arange(8.0).reshape(4, 2)
    v = np.array([1.0, 2.0, 3.0, 10.0, 100.0])
    expected = np.array([1.0, 2.0, 2.0, 3.0]) + dense @ v[3:]
    np.testing.assert_allclose(random_part([Indicator(codes, np.ones(4), 3), dense], v),
                               expected)


def test_population_frame_blanks_the_grouping_columns():
    fit = lmm_fit(formula="y ~ x + (1|g) + (0 + z|h)")
    frame = population_frame(pd.DataFrame({"x": [0.1, 0.2]}, index=[5, 9]), fit.design)
    assert list(frame.columns) == ["x", "g", "h", "z"]
    assert frame["g"].isna().all() and (frame["z"] == 0.0).all()
    blanked = population_frame({"x": [1.0], "g": ["G01"]}, fit.design)
    assert blanked["g"].isna().all()  # a level given is not used at the population level
    np.testing.assert_allclose(fit.predict(frame, re_form="NA"),
                               fit.fixef["(Intercept)"] + fit.fixef["x"] * frame["x"])


def test_term_slices_and_the_means_of_v():
    blocks = [Indicator(np.array([0, 1, 1, 2]), np.ones(4), 3), np.zeros((4, 2))]
    assert term_slices(blocks) == [slice(0, 3), slice(3, 5)]
    np.testing.assert_array_equal(mean_v(inverse_gamma_result().problem), np.ones(15))
    np.testing.assert_array_equal(mean_v(lmm_fit().problem), np.zeros(12))
