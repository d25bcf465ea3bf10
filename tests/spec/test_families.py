"""Tests of ``hglm.spec.families``: variance functions, deviances, links per role, names."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from scipy import stats

import hglm
from hglm.spec.families import (
    Beta,
    Binomial,
    Family,
    Gamma,
    Gaussian,
    InverseGamma,
    InverseGaussian,
    Poisson,
    as_family,
    random_family,
    response_family,
)

RESPONSE = [
    (Gaussian, ["identity", "log", "inverse"]),
    (Binomial, ["logit", "probit", "cloglog"]),
    (Poisson, ["log", "identity", "sqrt"]),
    (Gamma, ["inverse", "log", "identity"]),
    (InverseGaussian, ["1/mu^2", "inverse", "log", "identity"]),
]
RESPONSE_CASES = [(cls, link) for cls, links in RESPONSE for link in links]

RANDOM_CASES = [
    (Gaussian, "identity"),
    (Gamma, "log"),
    (Beta, "logit"),
    (InverseGamma, "inverse"),
]


def _mu(cls: type[Family]) -> np.ndarray:
    if cls is Binomial:
        return np.array([0.05, 0.3, 0.5, 0.8, 0.97])
    if cls is Gaussian:
        return np.array([-2.0, -0.3, 0.4, 1.5, 6.0])
    return np.array([0.1, 0.6, 1.0, 2.5, 7.0])


def _ids(cases: list) -> list[str]:
    return [f"{c.__name__}-{link}" for c, link in cases]


# --- response families -------------------------------------------------------------


@pytest.mark.parametrize(("cls", "link"), RESPONSE_CASES, ids=_ids(RESPONSE_CASES))
def test_response_family_resolves_requested_link(cls: type[Family], link: str) -> None:
    fam = cls(link=link).as_response()
    assert fam.link.name == link
    mu = _mu(cls) if link == "identity" or cls is not Gaussian else _mu(Poisson)
    np.testing.assert_allclose(fam.link.inverse(fam.link.link(mu)), mu, rtol=1e-12)


@pytest.mark.parametrize(("cls", "link"), RESPONSE_CASES, ids=_ids(RESPONSE_CASES))
def test_response_dvariance_matches_finite_differences(cls: type[Family], link: str) -> None:
    fam = cls(link=link).as_response()
    mu = _mu(cls)
    h = 1e-6 * np.minimum(np.abs(mu), 1.0 - np.abs(mu) if cls is Binomial else 1.0)
    fd = (fam.variance(mu + h) - fam.variance(mu - h)) / (2.0 * h)
    np.testing.assert_allclose(fam.dvariance(mu), fd, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize(
    ("cls", "expected"),
    [
        (Gaussian, lambda m: np.ones_like(m)),
        (Binomial, lambda m: m * (1.0 - m)),
        (Poisson, lambda m: m),
        (Gamma, lambda m: m**2),
        (InverseGaussian, lambda m: m**3),
    ],
)
def test_response_variance_functions(cls: type[Family], expected) -> None:
    mu = _mu(cls)
    np.testing.assert_allclose(cls().as_response().variance(mu), expected(mu), rtol=1e-15)


def test_gaussian_deviance_closed_form() -> None:
    y = np.array([-1.0, 0.0, 2.5, 3.0])
    mu = np.array([0.5, 0.0, 2.0, -1.0])
    dev = Gaussian().as_response().unit_deviance(y, mu)
    np.testing.assert_allclose(dev, (y - mu) ** 2, rtol=1e-15)
    # 2 [l(y; y) - l(y; mu)] with unit variance
    llr = 2.0 * (stats.norm.logpdf(y, y, 1.0) - stats.norm.logpdf(y, mu, 1.0))
    np.testing.assert_allclose(dev, llr, rtol=1e-12, atol=1e-14)


def test_poisson_deviance_closed_form_and_likelihood_ratio() -> None:
    y = np.array([0.0, 1.0, 3.0, 7.0, 12.0])
    mu = np.array([0.4, 2.0, 3.0, 5.5, 15.0])
    dev = Poisson().as_response().unit_deviance(y, mu)
    with np.errstate(divide="ignore", invalid="ignore"):
        closed = 2.0 * (np.where(y > 0, y * np.log(y / mu), 0.0) - (y - mu))
    np.testing.assert_allclose(dev, closed, rtol=1e-13, atol=1e-15)
    assert dev[0] == pytest.approx(2.0 * 0.4, rel=1e-14)  # y = 0: 2 mu
    assert dev[2] == 0.0
    llr = 2.0 * (stats.poisson.logpmf(y, y) - stats.poisson.logpmf(y, mu))
    np.testing.assert_allclose(dev, llr, rtol=1e-10, atol=1e-12)


def test_binomial_deviance_at_zero_and_one() -> None:
    fam = Binomial().as_response()
    mu = np.array([0.1, 0.35, 0.6, 0.9])
    np.testing.assert_allclose(fam.unit_deviance(np.ones(4), mu), -2.0 * np.log(mu), rtol=1e-14)
    np.testing.assert_allclose(
        fam.unit_deviance(np.zeros(4), mu), -2.0 * np.log1p(-mu), rtol=1e-14
    )
    for y in (0.0, 1.0):
        llr = 2.0 * (stats.binom.logpmf(y, 1, y) - stats.binom.logpmf(y, 1, mu))
        np.testing.assert_allclose(fam.unit_deviance(np.full(4, y), mu), llr, rtol=1e-12)


def test_binomial_deviance_of_proportions() -> None:
    # proportion r/m with prior weight m: m * d(r/m, mu) = 2 [l(r; r/m) - l(r; mu)]
    fam = Binomial().as_response()
    r = np.array([0.0, 2.0, 5.0, 9.0])
    m = np.array([4.0, 6.0, 5.0, 12.0])
    mu = np.array([0.2, 0.5, 0.7, 0.6])
    dev = m * fam.unit_deviance(r / m, mu)
    llr = 2.0 * (stats.binom.logpmf(r, m, r / m) - stats.binom.logpmf(r, m, mu))
    np.testing.assert_allclose(dev, llr, rtol=1e-11, atol=1e-13)


def test_gamma_deviance_closed_form_and_likelihood_ratio() -> None:
    y = np.array([0.2, 1.0, 3.0, 7.5])
    mu = np.array([0.5, 1.0, 2.0, 9.0])
    dev = Gamma().as_response().unit_deviance(y, mu)
    np.testing.assert_allclose(dev, 2.0 * ((y - mu) / mu - np.log(y / mu)), rtol=1e-13)
    assert dev[1] == 0.0
    # dispersion 1: shape 1, scale mu
    llr = 2.0 * (stats.gamma.logpdf(y, 1.0, scale=y) - stats.gamma.logpdf(y, 1.0, scale=mu))
    np.testing.assert_allclose(dev, llr, rtol=1e-11, atol=1e-13)


def test_inverse_gaussian_deviance_closed_form_and_likelihood_ratio() -> None:
    y = np.array([0.3, 1.0, 2.0, 5.0])
    mu = np.array([0.5, 1.0, 3.0, 4.0])
    dev = InverseGaussian().as_response().unit_deviance(y, mu)
    np.testing.assert_allclose(dev, (y - mu) ** 2 / (y * mu**2), rtol=1e-14)

    # IG(mean m, shape 1) is scipy's invgauss(mu=m, scale=1)
    def loglik(m: np.ndarray) -> np.ndarray:
        return stats.invgauss.logpdf(y, m, scale=1.0)

    np.testing.assert_allclose(dev, 2.0 * (loglik(y) - loglik(mu)), rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize(("cls", "link"), RESPONSE_CASES, ids=_ids(RESPONSE_CASES))
def test_response_deviance_zero_at_mu_equal_y_and_positive_elsewhere(
    cls: type[Family], link: str
) -> None:
    fam = cls(link=link).as_response()
    mu = _mu(cls)
    np.testing.assert_allclose(fam.unit_deviance(mu, mu), 0.0, atol=1e-14)
    other = mu * 0.9 if cls is not Gaussian else mu + 0.3
    assert np.all(fam.unit_deviance(mu, other) > 0.0)


def test_fixed_dispersion_flags() -> None:
    assert Binomial().as_response().fixed_dispersion
    assert Poisson().as_response().fixed_dispersion
    for cls in (Gaussian, Gamma, InverseGaussian):
        assert not cls().as_response().fixed_dispersion


@pytest.mark.parametrize(
    ("cls", "bad", "good"),
    [
        (Binomial, [0.0, 2.0], [0.0, 0.4, 1.0]),
        (Binomial, [-0.1, 1.0], [1.0, 1.0]),
        (Poisson, [-1.0, 3.0], [0.0, 3.0]),
        (Gamma, [0.0, 1.0], [0.1, 1.0]),
        (Gamma, [-1.0, 1.0], [0.1, 1.0]),
        (InverseGaussian, [0.0, 2.0], [0.5, 2.0]),
        (Gaussian, [np.nan, 1.0], [-1.0, 1.0]),
    ],
)
def test_support_errors(cls: type[Family], bad: list, good: list) -> None:
    fam = cls().as_response()
    assert fam.support_error(np.array(bad))
    assert fam.support_error(np.array(good)) is None


def test_binomial_starting_means_inside_unit_interval() -> None:
    fam = Binomial().as_response()
    y = np.array([0.0, 1.0, 0.5, 1.0])
    w = np.array([1.0, 1.0, 4.0, 10.0])
    mu = fam.mustart(y, w)
    np.testing.assert_allclose(mu, (w * y + 0.5) / (w + 1.0))
    assert np.all((mu > 0) & (mu < 1))


@pytest.mark.parametrize(("cls", "link"), RESPONSE_CASES)
def test_fisher_weight_is_mu_eta_squared_over_the_variance(cls: type[Family], link: str) -> None:
    """mu'^2 / V(mu) at the clipped inverse of eta for every family and link; the logit's
    is mu' itself (mean_derivative_is_variance), equal to it to the last bit, out to
    linear predictors of +-1e9 (the inverse's clip)."""
    eta = np.array([-1e9, -40.0, -30.0, -3.0, -0.2, 0.0, 0.7, 5.0, 30.0, 45.0, 1e9])
    fam = cls(link).as_response()
    # every eta where any mean is valid, else positive means of moderate size
    anywhere = fam.name == "binomial" or (fam.name, link) == ("gaussian", "identity")
    mean, mu_eta = fam.link.inverse_and_mu_eta(eta if anywhere else np.abs(eta[3:8]) + 0.5)
    mu = fam.clip_mu(mean)
    with np.errstate(all="ignore"):
        expected = mu_eta**2 / fam.variance(mu)
    logit = (fam.name, link) == ("binomial", "logit")
    assert fam.mean_derivative_is_variance == logit
    if logit:
        np.testing.assert_array_equal(mu_eta, fam.variance(mu))
        np.testing.assert_array_equal(fam.fisher_weight(mu, mu_eta), mu_eta)
    np.testing.assert_allclose(fam.fisher_weight(mu, mu_eta), expected, rtol=1e-15)


def test_clip_mu_keeps_parameter_space() -> None:
    assert np.all(Binomial().as_response().clip_mu(np.array([0.0, 1.0])) > 0)
    assert np.all(Binomial().as_response().clip_mu(np.array([0.0, 1.0])) < 1)
    assert np.all(Poisson().as_response().clip_mu(np.array([0.0, -1.0])) > 0)
    np.testing.assert_array_equal(
        Gaussian().as_response().clip_mu(np.array([-5.0, 0.0])), [-5.0, 0.0]
    )


# --- random-effect families ------------------------------------------------------


def _u(cls: type[Family]) -> np.ndarray:
    if cls is Beta:
        return np.array([0.05, 0.3, 0.5, 0.8, 0.95])
    if cls is Gaussian:
        return np.array([-2.0, -0.4, 0.0, 0.7, 3.0])
    return np.array([0.1, 0.5, 1.0, 2.0, 6.0])


def _table_deviance(name: str, psi: float, u: np.ndarray) -> np.ndarray:
    """d(psi, u) as written in DESIGN.md's table."""
    if name == "gaussian":
        return (psi - u) ** 2
    if name == "Gamma":
        return -2.0 * (np.log(u) + 1.0 - u)
    if name == "Beta":
        return 2.0 * (psi * np.log(psi / u) + (1 - psi) * np.log((1 - psi) / (1 - u)))
    if name == "inverse.gamma":
        return -2.0 * (np.log(psi / u) - (psi - u) / u)
    raise AssertionError(name)


@pytest.mark.parametrize(
    ("cls", "link", "name", "psi", "variance"),
    [
        (Gaussian, "identity", "gaussian", 0.0, lambda u: np.ones_like(u)),
        (Gamma, "log", "Gamma", 1.0, lambda u: u),
        (Beta, "logit", "Beta", 0.5, lambda u: u * (1.0 - u)),
        (InverseGamma, "inverse", "inverse.gamma", 1.0, lambda u: u**2),
    ],
)
def test_random_family_table(cls, link, name, psi, variance) -> None:
    fam = cls().as_random()
    assert fam.name == name
    assert fam.link.name == link
    assert fam.psi == psi
    u = _u(cls)
    np.testing.assert_allclose(fam.variance(u), variance(u), rtol=1e-15)
    np.testing.assert_allclose(fam.deviance(u), _table_deviance(name, psi, u), rtol=1e-12)
    # zero at u = psi, positive elsewhere
    assert fam.deviance(np.array([psi]))[0] == pytest.approx(0.0, abs=1e-15)
    off = u[np.abs(u - psi) > 1e-3]
    assert np.all(fam.deviance(off) > 0.0)
    # psi maps to v = v(psi): 0 for Gaussian (identity) and Gamma (log)
    if cls in (Gaussian, Gamma):
        assert float(fam.link.link(np.array(psi))) == 0.0


@pytest.mark.parametrize(("cls", "link"), RANDOM_CASES, ids=_ids(RANDOM_CASES))
def test_random_deviance_is_a_quasi_deviance(cls: type[Family], link: str) -> None:
    # d(psi, u) = 2 * int_u^psi (psi - t) / V_r(t) dt, so dd/du = -2 (psi - u) / V_r(u)
    fam = cls(link=link).as_random()
    u = _u(cls)
    u = u[np.abs(u - fam.psi) > 1e-3]
    h = 1e-6 * np.minimum(np.maximum(np.abs(u), 1e-2), 1.0 - u if cls is Beta else 1.0)
    fd = (fam.deviance(u + h) - fam.deviance(u - h)) / (2.0 * h)
    np.testing.assert_allclose(fd, -2.0 * (fam.psi - u) / fam.variance(u), rtol=1e-6)


ALL_RANDOM_CASES = [(cls, link) for cls in (Gaussian, Gamma, Beta, InverseGamma)
                    for link in cls.random_links]


@pytest.mark.parametrize(("cls", "link"), ALL_RANDOM_CASES, ids=_ids(ALL_RANDOM_CASES))
def test_random_dvariance_is_the_derivative_of_the_variance(cls: type[Family],
                                                            link: str) -> None:
    fam = cls(link=link).as_random()
    u = _u(cls)
    h = 1e-6 * np.minimum(np.maximum(np.abs(u), 1e-2), 1.0 - u if cls is Beta else 1.0)
    fd = (fam.variance(u + h) - fam.variance(u - h)) / (2.0 * h)
    np.testing.assert_allclose(fam.dvariance(u), fd, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize(("cls", "link"), ALL_RANDOM_CASES, ids=_ids(ALL_RANDOM_CASES))
def test_canonical_random_link_is_the_canonical_parameter(cls: type[Family],
                                                         link: str) -> None:
    """v is canonical when dv/du = 1 / V_r(u) up to a constant factor."""
    fam = cls(link=link).as_random()
    u = _u(cls)
    ratio = fam.variance(u) * fam.link.deta_dmu(u)
    assert fam.canonical == bool(np.allclose(ratio, ratio[0], rtol=1e-12))
    assert fam.canonical == ((cls, link) in RANDOM_CASES)


def test_random_gaussian_is_gaussian_flag() -> None:
    assert Gaussian().as_random().is_gaussian
    for cls in (Gamma, Beta, InverseGamma):
        assert not cls().as_random().is_gaussian


def test_other_random_links() -> None:
    assert Gamma(link="inverse").as_random().link.name == "inverse"
    assert Gamma(link="identity").as_random().link.name == "identity"
    assert InverseGamma(link="log").as_random().link.name == "log"


# --- default links, names and errors ------------------------------------------------


def test_default_links_per_role() -> None:
    assert Gamma().as_response().link.name == "inverse"
    assert Gamma().as_random().link.name == "log"
    assert Gaussian().as_response().link.name == "identity"
    assert Gaussian().as_random().link.name == "identity"
    assert Binomial().as_response().link.name == "logit"
    assert Poisson().as_response().link.name == "log"
    assert InverseGaussian().as_response().link.name == "1/mu^2"
    assert Beta().as_random().link.name == "logit"
    assert InverseGamma().as_random().link.name == "inverse"
    # the same object can serve in both roles
    g = Gamma()
    assert (g.as_response().link.name, g.as_random().link.name) == ("inverse", "log")


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("gaussian", Gaussian),
        ("binomial", Binomial),
        ("poisson", Poisson),
        ("gamma", Gamma),
        ("inverse_gaussian", InverseGaussian),
        ("beta", Beta),
        ("inverse_gamma", InverseGamma),
        ("Gamma", Gamma),
        ("inverse.gaussian", InverseGaussian),
    ],
)
def test_string_names(name: str, cls: type[Family]) -> None:
    fam = as_family(name, "family")
    assert type(fam) is cls
    assert fam.link is None
    assert fam == cls()


def test_class_and_instance_specs() -> None:
    assert response_family(hglm.Poisson).name == "poisson"
    fam = hglm.Binomial(link="probit")
    assert as_family(fam, "family") is fam
    assert response_family(fam).link.name == "probit"
    assert random_family("gamma").link.name == "log"
    assert response_family("gamma").link.name == "inverse"
    assert Binomial("probit") != Binomial("logit")
    assert hash(Gamma("log")) == hash(Gamma("log"))


@pytest.mark.parametrize("spec", ["gausian", "negbin", 3, None])
def test_unknown_response_family_names_family(spec) -> None:
    with pytest.raises(ValueError, match=r"^family\b"):
        response_family(spec)


@pytest.mark.parametrize("spec", ["gausian", "weibull"])
def test_unknown_random_family_names_rand_family(spec) -> None:
    with pytest.raises(ValueError, match=r"^rand_family\b"):
        random_family(spec)


@pytest.mark.parametrize(
    "spec", ["binomial", "poisson", "inverse_gaussian", Binomial(), InverseGaussian()]
)
def test_response_only_family_as_random_names_rand_family(spec) -> None:
    with pytest.raises(ValueError, match=r"^rand_family\b"):
        random_family(spec)


@pytest.mark.parametrize("spec", ["beta", "inverse_gamma", Beta(), InverseGamma()])
def test_random_only_family_as_response_names_family(spec) -> None:
    with pytest.raises(ValueError, match=r"^family\b"):
        response_family(spec)


@pytest.mark.parametrize(
    "fam", [Binomial(link="log"), Poisson(link="logit"), Gaussian(link="nope"), Gamma("sqrt")]
)
def test_unavailable_response_link_names_family(fam: Family) -> None:
    with pytest.raises(ValueError, match=r"^family\b.*link"):
        response_family(fam)


@pytest.mark.parametrize(
    "fam", [Gaussian(link="log"), Gamma(link="sqrt"), Beta(link="probit"), InverseGamma("logit")]
)
def test_unavailable_random_link_names_rand_family(fam: Family) -> None:
    with pytest.raises(ValueError, match=r"^rand_family\b.*link"):
        random_family(fam)


def test_random_family_argument_name_is_passed_through() -> None:
    with pytest.raises(ValueError, match=r"^rand_family\[1\]"):
        random_family("nope", "rand_family[1]")


def test_non_string_link_rejected() -> None:
    with pytest.raises(ValueError, match=r"^link\b"):
        Gamma(link=3)  # type: ignore[arg-type]


_RESPONSE = [(c, link) for c in (hglm.Gaussian, hglm.Binomial, hglm.Poisson, hglm.Gamma,
                                 hglm.InverseGaussian) for link in c.response_links]
_RANDOM = [(c, link) for c in (hglm.Gaussian, hglm.Gamma, hglm.Beta, hglm.InverseGamma)
           for link in c.random_links]


@pytest.mark.parametrize(("cls", "link"), _RESPONSE)
def test_response_family_pickles(cls, link) -> None:
    fam = cls(link=link).as_response()
    back = pickle.loads(pickle.dumps(fam))
    mu = np.array([0.2, 0.5, 0.7])
    y = np.array([0.0, 1.0, 0.5]) if fam.name == "binomial" else np.array([0.3, 1.0, 2.0])
    assert (back.name, back.link.name) == (fam.name, fam.link.name)
    np.testing.assert_array_equal(back.variance(mu), fam.variance(mu))
    np.testing.assert_array_equal(back.unit_deviance(y, mu), fam.unit_deviance(y, mu))
    np.testing.assert_array_equal(back.mustart(y, np.ones(3)), fam.mustart(y, np.ones(3)))
    assert back.support_error(-y - 1) == fam.support_error(-y - 1)


@pytest.mark.parametrize(("cls", "link"), _RANDOM)
def test_random_family_pickles(cls, link) -> None:
    fam = cls(link=link).as_random()
    back = pickle.loads(pickle.dumps(fam))
    u = np.array([0.2, 0.5, 0.7])
    assert back == fam
    np.testing.assert_array_equal(back.deviance(u), fam.deviance(u))
