"""Tests of ``hglm.spec.links``: every link against its own map by finite differences."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from hglm.spec.links import LINKS, Link, get_link

_UNIT = ("logit", "probit", "cloglog")


def valid_mu(name: str) -> np.ndarray:
    """Means inside the domain of the link ``name``."""
    if name in _UNIT:
        return np.array([0.01, 0.2, 0.5, 0.7, 0.95])
    if name == "identity":
        return np.array([-3.0, -0.5, 0.1, 2.0, 10.0])
    return np.array([0.05, 0.3, 1.0, 2.5, 10.0])


def step(mu: np.ndarray, name: str, rel: float) -> np.ndarray:
    """A finite-difference step that keeps mu +- step inside the domain."""
    if name in _UNIT:
        return rel * np.minimum(mu, 1.0 - mu)
    return rel * np.maximum(np.abs(mu), 1e-3)


ALL = sorted(LINKS)


def test_r_link_names_present() -> None:
    expected = {"identity", "log", "logit", "probit", "cloglog", "inverse", "sqrt", "1/mu^2"}
    assert expected <= set(LINKS)
    for name, link in LINKS.items():
        assert link.name == name


@pytest.mark.parametrize("name", ALL)
def test_inverse_of_link_is_identity(name: str) -> None:
    link = LINKS[name]
    mu = valid_mu(name)
    np.testing.assert_allclose(link.inverse(link.link(mu)), mu, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", ALL)
def test_mu_eta_matches_finite_differences(name: str) -> None:
    link = LINKS[name]
    mu = valid_mu(name)
    eta = link.link(mu)
    h = 1e-6 * np.maximum(np.abs(eta), 1e-2)
    fd = (link.inverse(eta + h) - link.inverse(eta - h)) / (2.0 * h)
    np.testing.assert_allclose(link.mu_eta(eta), fd, rtol=1e-6)


@pytest.mark.parametrize("name", ALL)
def test_deta_dmu_matches_finite_differences(name: str) -> None:
    link = LINKS[name]
    mu = valid_mu(name)
    h = step(mu, name, 1e-6)
    fd = (link.link(mu + h) - link.link(mu - h)) / (2.0 * h)
    np.testing.assert_allclose(link.deta_dmu(mu), fd, rtol=1e-6)


@pytest.mark.parametrize("name", ALL)
def test_d2eta_dmu2_matches_finite_differences(name: str) -> None:
    link = LINKS[name]
    mu = valid_mu(name)
    # second central difference of g itself
    h = step(mu, name, 1e-3)
    fd2 = (link.link(mu + h) - 2.0 * link.link(mu) + link.link(mu - h)) / h**2
    # and the central difference of g' = 1 / (dmu/deta)
    k = step(mu, name, 1e-6)
    fd1 = (link.deta_dmu(mu + k) - link.deta_dmu(mu - k)) / (2.0 * k)
    d2 = link.d2eta_dmu2(mu)
    scale = np.maximum(np.abs(d2), 1.0)
    np.testing.assert_allclose(d2 / scale, fd2 / scale, rtol=0, atol=1e-5)
    np.testing.assert_allclose(d2 / scale, fd1 / scale, rtol=0, atol=1e-7)


@pytest.mark.parametrize("name", ALL)
def test_inverse_and_mu_eta_equal_the_separate_maps(name: str) -> None:
    # the shortcut through the inverse must give the very same numbers
    link = LINKS[name]
    eta = link.link(valid_mu(name))
    if name in ("identity", "log", "logit"):
        eta = np.concatenate([eta, [-800.0, -40.0, -29.0, 31.0, 45.0, 701.0, 900.0]])
    mu, mu_eta = link.inverse_and_mu_eta(eta)
    np.testing.assert_array_equal(mu, link.inverse(eta))
    np.testing.assert_array_equal(mu_eta, link.mu_eta(eta))


def test_known_second_derivatives() -> None:
    mu = np.array([0.2, 0.5, 0.9])
    np.testing.assert_allclose(LINKS["identity"].d2eta_dmu2(mu), 0.0)
    np.testing.assert_allclose(LINKS["log"].d2eta_dmu2(mu), -1.0 / mu**2)
    np.testing.assert_allclose(LINKS["logit"].d2eta_dmu2(np.array([0.5])), 0.0, atol=1e-14)
    np.testing.assert_allclose(LINKS["inverse"].d2eta_dmu2(mu), 2.0 / mu**3)


@pytest.mark.parametrize("name", _UNIT)
def test_binary_inverse_stays_inside_unit_interval(name: str) -> None:
    link = LINKS[name]
    eta = np.array([-1e3, -50.0, -40.0, 0.0, 40.0, 50.0, 1e3])
    mu = link.inverse(eta)
    assert np.all(np.isfinite(mu))
    assert np.all((mu > 0.0) & (mu < 1.0))
    d = link.mu_eta(eta)
    assert np.all(np.isfinite(d)) and np.all(d > 0.0)
    assert np.all(np.diff(mu) >= 0.0)


def test_log_inverse_does_not_overflow() -> None:
    mu = LINKS["log"].inverse(np.array([800.0, -800.0]))
    assert np.all(np.isfinite(mu))
    assert mu[1] >= 0.0


def test_get_link_by_name_alias_and_instance() -> None:
    assert get_link("logit") is LINKS["logit"]
    assert get_link("inverse_squared") is LINKS["1/mu^2"]
    assert get_link("inverse_sqrt") is LINKS["1/sqrt(mu)"]
    custom = Link("mine", np.exp, np.log, np.ones_like, np.zeros_like)
    assert get_link(custom) is custom


@pytest.mark.parametrize("argument", ["link", "link_disp", "link_rand_disp"])
def test_get_link_error_names_argument(argument: str) -> None:
    with pytest.raises(ValueError, match=rf"^{argument}\b.*'nolink'"):
        get_link("nolink", argument)


def test_get_link_default_argument_name() -> None:
    with pytest.raises(ValueError, match=r"^link\b"):
        get_link("Logit")


@pytest.mark.parametrize("name", sorted(LINKS))
def test_link_pickles(name: str) -> None:
    """A link (held by every fitted model) survives pickle with the same maps."""
    link = LINKS[name]
    back = pickle.loads(pickle.dumps(link))
    mu = valid_mu(name)
    assert back.name == link.name
    np.testing.assert_array_equal(back.link(mu), link.link(mu))
    np.testing.assert_array_equal(back.inverse(link.link(mu)), link.inverse(link.link(mu)))
    np.testing.assert_array_equal(back.d2eta_dmu2(mu), link.d2eta_dmu2(mu))
