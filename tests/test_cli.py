"""The ``hglm`` command line, run as a subprocess on CSV files (hglm.cli)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from shared import shared_dir

import hglm
from hglm.cli import main

SRC = Path(__file__).resolve().parents[1] / "src"
RUNNERS = ["module", "script"]


def _command(runner: str) -> list[str]:
    if runner == "module":
        return [sys.executable, "-m", "hglm.cli"]
    exe = shutil.which("hglm")
    if exe is None:
        pytest.skip("the hglm console script is not on PATH (package not installed)")
    return [exe]


def run(runner: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("HGLM_DEBUG", None)
    if runner == "module":
        env["PYTHONPATH"] = os.pathsep.join(
            [str(SRC)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
        )
    env["MPLBACKEND"] = "Agg"
    return subprocess.run(
        [*_command(runner), *args], capture_output=True, text=True, cwd=cwd, env=env,
        timeout=300,
    )


def printed_fixef(stdout: str) -> dict[str, float]:
    """The Estimate column of the printed fixed-effects table."""
    lines = stdout.splitlines()
    start = lines.index("Summary of the fixed effects estimates:") + 3
    out = {}
    for line in lines[start:]:
        if line.startswith("---"):
            break
        parts = line.split()
        out[parts[0]] = float(parts[1])
    return out


def printed_after(stdout: str, heading: str) -> str:
    lines = stdout.splitlines()
    return lines[lines.index(heading) + 1]


def _binomial_csv(path: Path, seed: int = 2024) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ids = np.repeat(np.arange(1, 31), 6)
    week = np.tile([0, 2, 4, 6, 8, 11], 30).astype(float)
    eta = 1.5 - 0.15 * week + rng.normal(0, 1.1, 30)[ids - 1]
    y = np.where(rng.uniform(size=ids.size) < 1 / (1 + np.exp(-eta)), "y", "n")
    df = pd.DataFrame({"y": y, "week": week, "ID": [f"S{i:02d}" for i in ids]})
    df.to_csv(path, index=False)
    return df


def _gaussian_csv(path: Path, seed: int = 77) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(8), 12)
    x = rng.normal(size=g.size)
    x2 = rng.binomial(1, 0.5, g.size).astype(float)
    y = 2.0 + 0.7 * x + rng.normal(0, 0.8, 8)[g] + rng.normal(0, np.exp(0.5 * (-0.5 + x2)))
    df = pd.DataFrame({"y": y, "x": x, "x2": x2, "g": g})
    df.to_csv(path, index=False)
    return df


def _poisson_csv(path: Path, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(10), 8)
    x = rng.normal(size=g.size)
    u = rng.gamma(4.0, 0.25, 10)
    y = rng.poisson(np.exp(0.8 + 0.3 * x) * u[g])
    df = pd.DataFrame({"count": y, "x": x, "g": g})
    df.to_csv(path, index=False)
    return df


@pytest.fixture(scope="module")
def binomial_csv(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    path = tmp_path_factory.mktemp("cli") / "visits.csv"
    return path, _binomial_csv(path)


@pytest.fixture(scope="module")
def gaussian_csv(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    path = tmp_path_factory.mktemp("cli") / "gauss.csv"
    return path, _gaussian_csv(path)


@pytest.mark.parametrize("runner", RUNNERS)
def test_fit_prints_the_estimates_of_an_in_process_fit(runner, binomial_csv):
    path, df = binomial_csv
    res = run(runner, "fit", str(path), "y ~ week + (1|ID)", "--family", "binomial")
    assert res.returncode == 0, res.stderr
    fit = hglm.hglm2("y ~ week + (1|ID)", data=pd.read_csv(path), family="binomial")
    printed = printed_fixef(res.stdout)
    assert list(printed) == ["(Intercept)", "week"]
    for name, value in printed.items():
        assert value == pytest.approx(fit.fixef[name], abs=5.1e-6)
    assert float(printed_after(res.stdout, "Dispersion parameter for the mean model:")) == (
        pytest.approx(fit.var_fix, rel=1e-6)
    )
    lam = float(printed_after(res.stdout, "Dispersion parameter for the random effects:"))
    assert lam == pytest.approx(fit.var_ranef[0], rel=5e-4)
    assert f"converged in {fit.n_iter} iterations" in res.stdout
    assert "MEAN MODEL" in res.stdout and "DISPERSION MODEL" in res.stdout
    assert "Traceback" not in res.stderr


def test_json_file_holds_every_estimate(binomial_csv, tmp_path):
    path, _ = binomial_csv
    out = tmp_path / "out.json"
    res = run("module", "fit", str(path), "y ~ week + (1|ID)", "--family", "binomial",
              "--link", "logit", "--json", str(out))
    assert res.returncode == 0, res.stderr
    assert f"Estimates written to {out}" in res.stdout
    d = json.loads(out.read_text())
    fit = hglm.hglm2("y ~ week + (1|ID)", data=pd.read_csv(path),
                     family=hglm.Binomial(link="logit"))
    assert d["schema"] == "hglm.fit/1"
    assert d["family"] == {"name": "binomial", "link": "logit"}
    assert d["n_obs"] == 180 and d["n_ranef"] == 30
    for name, value in fit.fixef.items():
        assert d["fixef"][name] == pytest.approx(value, rel=1e-9, abs=1e-12)
        assert d["se_fixef"][name] == pytest.approx(fit.se_fixef[name], rel=1e-9)
    np.testing.assert_allclose([r["estimate"] for r in d["ranef"]], fit.ranef, rtol=1e-8,
                               atol=1e-12)
    assert [r["name"] for r in d["ranef"]] == list(fit.ranef.index)
    assert d["var_fix"] == pytest.approx(fit.var_fix, rel=1e-9)
    assert d["var_ranef"] == pytest.approx(list(fit.var_ranef), rel=1e-9)
    assert d["n_iter"] == fit.n_iter and d["converged"] is True
    assert d["df_resid"] == fit.df_resid


@pytest.mark.parametrize("runner", RUNNERS)
def test_disp_model_json_and_plots(runner, gaussian_csv, tmp_path):
    path, _ = gaussian_csv
    res = run(runner, "fit", str(path), "y ~ x + (1|g)", "--disp", "~ x2",
              "--json", "fit.json", "--plot", "diag.png", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    fit = hglm.hglm2("y ~ x + (1|g)", data=pd.read_csv(path), disp="~ x2")
    d = json.loads((tmp_path / "fit.json").read_text())
    assert list(d["disp_coef"]) == ["(Intercept)", "x2"]
    for row in ("(Intercept)", "x2"):
        assert d["disp_coef"][row]["estimate"] == pytest.approx(
            fit.disp_coef.loc[row, "estimate"], rel=1e-9)
    assert d["var_fix"] is None
    names = ["diag_1_leverages.png", "diag_2_deviances.png", "diag_3_mean_model.png",
             "diag_4_dispersion_model.png"]
    for name in names:
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Plots written to" in res.stdout and "diag_4_dispersion_model.png" in res.stdout
    printed = printed_fixef(res.stdout)
    assert printed["x"] == pytest.approx(fit.fixef["x"], abs=5.1e-6)
    assert "x2" in res.stdout.split("Model estimates for the dispersion term:")[1]


def test_fix_disp_calc_like(binomial_csv, tmp_path):
    path, _ = binomial_csv
    out = tmp_path / "like.json"
    res = run("module", "fit", str(path), "y ~ week + (1|ID)", "--family", "binomial",
              "--fix-disp", "1", "--calc-like", "--json", str(out))
    assert res.returncode == 0, res.stderr
    fit = hglm.hglm2("y ~ week + (1|ID)", data=pd.read_csv(path), family="binomial",
                     fix_disp=1, calc_like=True)
    d = json.loads(out.read_text())
    assert d["disp_coef"] is None and d["fix_disp"] == 1.0 and d["var_fix"] == 1.0
    for key in ("hlik", "pvh", "pbvh", "cAIC"):
        assert d["likelihood"][key] == pytest.approx(fit.likelihood[key], rel=1e-9)
        assert f"{key}: {fit.likelihood[key]:.4f}" in res.stdout
    assert "The residual dispersion was fixed" in res.stdout


def test_method_hl11_is_eql1(binomial_csv, tmp_path):
    path, df = binomial_csv
    out = tmp_path / "eql1.json"
    res = run("module", "fit", str(path), "y ~ week + (1|ID)", "--family", "binomial",
              "--fix-disp", "1", "--method", "HL11", "--json", str(out))
    assert res.returncode == 0, res.stderr
    fit = hglm.hglm2("y ~ week + (1|ID)", data=df, family="binomial", fix_disp=1,
                     method="EQL1")
    d = json.loads(out.read_text())
    assert d["method"] == "EQL1"
    assert d["fixef"]["week"] == pytest.approx(fit.fixef["week"], rel=1e-9)


def test_rand_family_gamma_conv_maxit(tmp_path):
    path = tmp_path / "counts.csv"
    df = _poisson_csv(path)
    out = tmp_path / "pg.json"
    res = run("module", "fit", str(path), "count ~ x + (1|g)", "--family", "poisson",
              "--rand-family", "gamma", "--rand-link", "log", "--fix-disp", "1",
              "--conv", "1e-8", "--maxit", "80", "--json", str(out))
    assert res.returncode == 0, res.stderr
    fit = hglm.hglm2("count ~ x + (1|g)", data=df, family="poisson",
                     rand_family=hglm.Gamma(link="log"), fix_disp=1, conv=1e-8, maxit=80)
    d = json.loads(out.read_text())
    assert d["random_terms"][0]["family"] == fit.rand_families[0].name
    assert d["random_terms"][0]["link"] == "log"
    assert d["fixef"]["x"] == pytest.approx(fit.fixef["x"], rel=1e-9)
    assert d["var_ranef"][0] == pytest.approx(fit.var_ranef[0], rel=1e-9)
    assert d["n_iter"] == fit.n_iter


def test_non_convergence_is_a_warning_line(binomial_csv, tmp_path):
    path, _ = binomial_csv
    out = tmp_path / "short.json"
    res = run("module", "fit", str(path), "y ~ week + (1|ID)", "--family", "binomial",
              "--maxit", "1", "--json", str(out))
    assert res.returncode == 0, res.stderr
    assert "did NOT converge" in res.stdout
    warning_lines = [ln for ln in res.stderr.splitlines() if "converge" in ln]
    assert warning_lines and all(ln.startswith("hglm: warning: ") for ln in warning_lines)
    assert json.loads(out.read_text())["converged"] is False
    assert "Traceback" not in res.stderr


def _one_error_line(res: subprocess.CompletedProcess) -> str:
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("hglm: error: ")
    return lines[0]


@pytest.mark.parametrize("runner", RUNNERS)
def test_missing_column_is_one_error_line(runner, binomial_csv):
    path, _ = binomial_csv
    res = run(runner, "fit", str(path), "y ~ wek + (1|ID)", "--family", "binomial")
    line = _one_error_line(res)
    assert "wek" in line and "column" in line
    assert res.stdout == ""


@pytest.mark.parametrize("runner", RUNNERS)
def test_missing_file_is_one_error_line(runner, tmp_path):
    missing = tmp_path / "nope.csv"
    line = _one_error_line(run(runner, "fit", str(missing), "y ~ x + (1|g)"))
    assert str(missing) in line


def test_other_bad_input_is_one_error_line(binomial_csv, tmp_path):
    path, _ = binomial_csv
    line = _one_error_line(run("module", "fit", str(path), "y ~ week + (1|ID",
                               "--family", "binomial"))
    assert "\x1b" not in line  # formulaic's colour codes are removed
    line = _one_error_line(run("module", "fit", str(path), "y ~ week + (1|ID)",
                               "--family", "nonsense"))
    assert "nonsense" in line
    line = _one_error_line(run("module", "fit", str(path), "y ~ week + (1|ID)",
                               "--family", "binomial", "--link", "identity"))
    assert "identity" in line
    line = _one_error_line(run("module", "fit", str(path), "y ~ week + (1|ID)",
                               "--family", "binomial", "--disp", "~ zz"))
    assert "zz" in line
    bad = tmp_path / "bad.csv"
    bad.write_text('a,b\n1,2\n"unterminated,3\n4,5,6,7\n')
    line = _one_error_line(run("module", "fit", str(bad), "a ~ 1 + (1|b)"))
    assert str(bad) in line


def test_argument_errors_exit_2(binomial_csv):
    path, _ = binomial_csv
    res = run("module", "fit", str(path))
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "formula" in res.stderr
    res = run("module", "fit", str(path), "y ~ week + (1|ID)", "--maxit", "many")
    assert res.returncode == 2 and "--maxit" in res.stderr


def test_help_mentions_the_options():
    res = run("module", "fit", "--help")
    assert res.returncode == 0
    for option in ("--family", "--link", "--rand-family", "--disp", "--fix-disp",
                   "--calc-like", "--conv", "--maxit", "--json", "--plot"):
        assert option in res.stdout


def test_demo_still_runs():
    res = run("module", "demo")
    assert res.returncode == 0, res.stderr
    assert "MEAN MODEL" in res.stdout and "Traceback" not in res.stderr


@pytest.mark.parametrize("runner", RUNNERS)
def test_bacteria_csv(runner, tmp_path):
    data = shared_dir() / "data" / "bacteria.csv"
    out = tmp_path / "bacteria.json"
    res = run(runner, "fit", str(data), "y ~ week + (1|ID)", "--family", "binomial",
              "--json", str(out))
    assert res.returncode == 0, res.stderr
    fit = hglm.hglm2("y ~ week + (1|ID)", data=pd.read_csv(data), family="binomial")
    printed = printed_fixef(res.stdout)
    assert printed["(Intercept)"] == pytest.approx(fit.fixef["(Intercept)"], abs=5.1e-6)
    assert printed["week"] == pytest.approx(fit.fixef["week"], abs=5.1e-6)
    m = re.search(r"Note: P-values are based on (\d+) degrees of freedom", res.stdout)
    assert m and int(m.group(1)) == fit.df_resid
    d = json.loads(out.read_text())
    assert d["n_obs"] == 220 and d["n_ranef"] == 50
    assert d["fixef"]["week"] == pytest.approx(fit.fixef["week"], rel=1e-9)
    assert d["var_ranef"][0] == pytest.approx(fit.var_ranef[0], rel=1e-9)
    # the vignette's numbers (R: week -0.1351, ID variance 1.559-1.613): same model
    assert d["fixef"]["week"] == pytest.approx(-0.135, abs=0.005)
    assert 1.4 < d["var_ranef"][0] < 1.8


def test_a_one_row_data_set_is_refused_with_status_2(tmp_path: Path, capsys) -> None:
    """It used to print the starting values as a fit and exit 0 (issue 18)."""
    path = tmp_path / "one.csv"
    pd.DataFrame({"y": [1.5], "g": [1]}).to_csv(path, index=False)
    assert main(["fit", str(path), "y ~ 1 + (1|g)"]) == 2
    assert capsys.readouterr().err.strip() == (
        "hglm: error: y: has a single observation; an HGLM needs several to estimate its "
        "variances"
    )


def test_a_missing_parenthesis_is_one_plain_line(tmp_path: Path, capsys) -> None:
    path = tmp_path / "d.csv"
    pd.DataFrame({"y": [1.5, 2.0, 3.0], "g": [1, 2, 1]}).to_csv(path, index=False)
    assert main(["fit", str(path), "y ~ 1 + (1|g"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hglm: error: formula: the '(' at position 8") and "\x1b" not in err
