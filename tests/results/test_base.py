"""Tests of ``hglm.results.base``: the verbs every result shares, and what an estimator's
result supplies."""

from __future__ import annotations

import json

import numpy as np
import pytest

import hglm
from hglm.results import MixedModelResult


class _MaximumLikelihoodResult(MixedModelResult):
    """The least a result of a likelihood-maximising estimator supplies."""

    method = "ML"

    def __init__(self, loglik: float, n_params: int, n_obs: int) -> None:
        self._loglik, self._n_params, self.n_obs = loglik, n_params, n_obs

    @property
    def loglik(self) -> float:
        return self._loglik

    @property
    def n_params(self) -> int:
        return self._n_params

    def predict(self, newdata=None, type="response"):
        return np.zeros(self.n_obs)

    def summary(self):
        return "summary"

    def plot(self, path=None):
        return []

    def to_dict(self):
        return {"loglik": self.loglik, "missing": None}

    def __repr__(self) -> str:
        return "ML fit"


def test_hglm_result_is_a_mixed_model_result(fit) -> None:
    assert isinstance(fit, MixedModelResult)
    assert fit.nobs == fit.n_obs == fit.fitted.shape[0]


def test_the_base_cannot_be_instantiated() -> None:
    with pytest.raises(TypeError, match="abstract"):
        MixedModelResult()


@pytest.mark.parametrize("verb", ["loglik", "deviance", "n_params", "aic", "bic"])
def test_an_eql_fit_has_no_likelihood_verbs(fit, verb) -> None:
    """EQL maximises no likelihood (its h-likelihoods are in ``likelihood``)."""
    assert not hasattr(fit, verb)
    with pytest.raises(AttributeError, match="HGLMResult fitted by EQL maximises no likelihood"):
        getattr(fit, verb)


def test_aic_and_bic_from_loglik_and_n_params() -> None:
    res = _MaximumLikelihoodResult(loglik=-120.5, n_params=4, n_obs=50)
    assert res.aic == -2.0 * -120.5 + 2.0 * 4
    assert res.bic == pytest.approx(241.0 + np.log(50) * 4, rel=1e-15)
    assert not hasattr(res, "deviance")


def test_to_json_is_the_strict_json_of_to_dict(fit, tmp_path) -> None:
    res = _MaximumLikelihoodResult(loglik=float("nan"), n_params=1, n_obs=3)
    with pytest.raises(ValueError):  # strict JSON: a NaN left in to_dict is refused
        res.to_json()
    res = _MaximumLikelihoodResult(loglik=-1.5, n_params=1, n_obs=3)
    path = tmp_path / "fit.json"
    text = res.to_json(path, indent=None)
    assert json.loads(text) == res.to_dict() and path.read_text() == text + "\n"
    assert hglm.HGLMResult.to_json is MixedModelResult.to_json
    assert json.loads(fit.to_json()) == fit.to_dict()
