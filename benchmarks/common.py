"""Shared helpers of the benchmark scripts: paths, isolated timing, memory, Markdown.

Every fit is measured in a fresh worker process (``python benchmarks/common.py --worker
SPEC``) so that one fit's memory, caches and lazily imported modules cannot leak into the
next one, and so that a fit that runs too long can be killed without stalling the run.

The worker imports the benchmark module named in SPEC and calls its
``prepare(case, **params)``, which loads the data and returns a :class:`Prepared` (the fit
as a zero-argument callable, plus an optional ``summarize(result) -> dict``).  Then:

* baseline: the resident set size (RSS) of the process that has imported the libraries
  and loaded the data, after a garbage collection;
* the kernel's peak-RSS mark is reset (``/proc/self/clear_refs``, Linux) and the fit runs;
  peak memory = peak RSS during the first fit minus the baseline.  Where the mark cannot
  be reset, ``ru_maxrss`` is used (an upper bound: it includes the data loading);
* wall time: the fit is repeated (``repeat`` times, fewer when the time budget would be
  exceeded) and the median is reported.

The worker reports through a JSON-lines file, so the parent still has the completed runs
when it kills a worker at its timeout.  Other programs (``Rscript``, see ``peers.py``) can
speak the same protocol: one JSON object per line with ``event`` in ``loaded`` / ``run``
(``time``, ``peak_mb``, ``baseline_mb``) / ``info`` / ``error`` / ``unsupported`` /
``done``.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import importlib
import json
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
OUT_DIR = BENCH_DIR / "out"

# --------------------------------------------------------------------------- paths


def shared_dir(path: str | os.PathLike | None = None) -> Path:
    """The ``shared/`` directory (data, ref, bench): ``path``, else ``$HGLM_SHARED``,
    else ``../shared`` beside the repository."""
    candidates = [path, os.environ.get("HGLM_SHARED"), REPO_DIR.parent / "shared"]
    chosen = next((Path(c) for c in candidates if c), None)
    if chosen is None or not (chosen / "data").is_dir():
        raise SystemExit(
            f"cannot find the shared directory (tried {chosen}); pass --shared PATH or set "
            "HGLM_SHARED to the directory holding data/, ref/ and bench/"
        )
    return chosen.resolve()


def out_dir(*parts: str) -> Path:
    """``benchmarks/out/<parts>`` (git-ignored), created on demand."""
    path = OUT_DIR.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def problem_data(shared: Path, *, regenerate: bool = False) -> Path:
    """The simulated benchmark problems of ``shared/bench/gen_data.py``, generated once
    into ``benchmarks/out/data`` and reused while every file matches ``truth.json``."""
    dest = OUT_DIR / "data"
    truth = dest / "truth.json"
    if truth.exists() and not regenerate:
        info = json.loads(truth.read_text())
        ok = True
        for prob in info["problems"].values():
            files = [(prob["file"], prob["md5"])]
            if "geno_md5" in prob:
                files.append(("p4_geno.int8", prob["geno_md5"]))
            for name, digest in files:
                if not (dest / name).exists() or _md5(dest / name) != digest:
                    ok = False
        if ok:
            return dest
        print("benchmark data incomplete or modified: regenerating", flush=True)
    dest.mkdir(parents=True, exist_ok=True)
    gen = shared / "bench" / "gen_data.py"
    print(f"generating the benchmark problems: {gen} -> {dest}", flush=True)
    subprocess.run([sys.executable, str(gen), str(dest)], check=True)
    return dest


# --------------------------------------------------------------------------- memory


def _proc_status_kb(key: str) -> float | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return float(line.split()[1])
    except OSError:
        return None
    return None


def rss_mb() -> float:
    """Current resident set size of this process, MB."""
    kb = _proc_status_kb("VmRSS")
    if kb is not None:
        return kb / 1024
    try:
        import psutil

        return psutil.Process().memory_info().rss / 2**20
    except ImportError:
        return _maxrss_mb()


def _maxrss_mb() -> float:
    """Peak RSS of this process from getrusage (kB on Linux, bytes on macOS), MB."""
    raw = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return raw / 2**20 if sys.platform == "darwin" else raw / 1024


def reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) of this process; False if impossible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_mb() -> float:
    """Peak resident set size (since the last :func:`reset_peak`), MB."""
    kb = _proc_status_kb("VmHWM")
    return kb / 1024 if kb is not None else _maxrss_mb()


# --------------------------------------------------------------------------- timing


def time_call(fn: Callable[[], Any], repeat: int = 3) -> tuple[float, list[float]]:
    """Median wall seconds of ``repeat`` calls of ``fn`` in this process, and all times."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def fit_summary(res: Any) -> dict:
    """The estimates every report keeps of an hglm fit (JSON-ready).  A marginal-likelihood
    fit (``MarginalResult``, method "ML"/"REML") adds its log-likelihood and method; its
    variance components are given in formula order, as an EQL fit's."""
    marginal = hasattr(res, "loglik") and not hasattr(res, "var_ranef")
    if marginal:
        vc = res.varcorr
        lme4_order = vc.loc[vc["grp"] != "Residual", "vcov"].to_numpy(dtype=float)
        var_ranef = [0.0] * len(lme4_order)
        for j, k in enumerate(res.term_order):
            var_ranef[int(k)] = float(lme4_order[j])
        var_fix = None if res.family.fixed_dispersion else float(res.sigma) ** 2
    else:
        var_ranef = [float(v) for v in res.var_ranef]
        var_fix = None if res.var_fix is None else float(res.var_fix)
    out = {
        "n_iter": int(res.n_iter),
        "converged": bool(res.converged),
        "fixef_names": [str(k) for k in res.fixef.index],
        "fixef": [float(v) for v in res.fixef],
        "se_fixef": [float(v) for v in res.se_fixef],
        "var_ranef": var_ranef,
        "var_fix": var_fix,
    }
    if marginal:
        out.update(loglik=float(res.loglik), method=str(res.method))
    return out


@dataclass
class Prepared:
    """What a benchmark module's ``prepare`` returns: the fit, and how to describe it."""

    fit: Callable[[], Any]
    summarize: Callable[[Any], dict] | None = None
    note: str = ""


@dataclass
class Measurement:
    """One measured fit (a case of one tool)."""

    status: str  # ok | timeout | error | unsupported | skipped
    times: list[float] = field(default_factory=list)
    peak_mb: float | None = None  # the first run's (in a fresh process)
    peaks: list[float] = field(default_factory=list)  # every run's, in order
    baseline_mb: float | None = None
    load_s: float | None = None
    info: dict = field(default_factory=dict)
    message: str = ""
    timeout: float | None = None
    load_avg: float | None = None  # 1-minute load average when the worker started

    @property
    def seconds(self) -> float | None:
        return statistics.median(self.times) if self.times else None

    def time_text(self) -> str:
        if self.times:
            text = fmt_seconds(self.seconds)
            return text if len(self.times) > 1 else text + " (1 run)"
        if self.status == "timeout":
            return f"> {self.timeout:g}"
        return {"unsupported": "not yet supported", "skipped": "skipped"}.get(
            self.status, self.status
        )

    def to_dict(self) -> dict:
        return {
            "status": self.status, "seconds": self.seconds, "times": self.times,
            "peak_mb": self.peak_mb, "baseline_mb": self.baseline_mb, "load_s": self.load_s,
            "info": self.info, "message": self.message, "timeout": self.timeout,
            "load_avg": self.load_avg,
        }


def pooled(rounds: Sequence[Measurement]) -> Measurement:
    """The measurements of one case in several fresh processes (``--rounds``) as one:
    every run's time (the median is over all of them) and peak; the first process's peak
    memory, baseline, load and info; the first failure's status and message where a round
    failed."""
    first = rounds[0]
    failed = next((m for m in rounds if m.status != "ok"), None)
    return Measurement(
        status=failed.status if failed else first.status,
        times=[t for m in rounds for t in m.times],
        peak_mb=first.peak_mb, peaks=[p for m in rounds for p in m.peaks],
        baseline_mb=first.baseline_mb, load_s=first.load_s, info=first.info,
        message=failed.message if failed else first.message, timeout=first.timeout,
        load_avg=first.load_avg)


def rotated(items: Sequence[str], k: int) -> list[str]:
    """``items`` started at position k (mod its length): round k's order of the tools."""
    k %= max(len(items), 1)
    return list(items[k:]) + list(items[:k])


def _read_events(path: Path) -> list[dict]:
    events = []
    try:
        text = path.read_text()
    except OSError:
        return events
    for line in text.splitlines():
        line = line.strip()
        if line:
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                pass  # a line being written when the worker was killed
    return events


def run_protocol(
    cmd: Sequence[str],
    result_file: Path,
    *,
    timeout: float = 600.0,
    load_timeout: float = 600.0,
    env: dict | None = None,
    cwd: Path | None = None,
) -> Measurement:
    """Run a worker command that writes JSON-lines events to ``result_file``; kill it
    ``load_timeout`` s after start if it has not loaded its data, or ``timeout`` s after
    loading (the fits' budget).  Returns what was measured."""
    result_file.unlink(missing_ok=True)
    try:
        load_avg = os.getloadavg()[0]
    except OSError:
        load_avg = None
    log = tempfile.TemporaryFile()
    start = time.monotonic()
    proc = subprocess.Popen(
        list(cmd), stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd,
        start_new_session=True,
    )
    loaded_at = None
    killed = False
    while proc.poll() is None:
        time.sleep(0.1)
        now = time.monotonic()
        if loaded_at is None and any(e.get("event") == "loaded" for e in _read_events(result_file)):
            loaded_at = now
        limit = (loaded_at + timeout + 5) if loaded_at is not None else (start + load_timeout)
        if now > limit:
            killed = True
            try:
                os.killpg(proc.pid, 9)  # the worker's own session: only what it started
            except ProcessLookupError:
                pass
            proc.wait()
    log.seek(0)
    output = log.read().decode(errors="replace")
    log.close()
    events = _read_events(result_file)
    result_file.unlink(missing_ok=True)
    m = Measurement(status="ok", timeout=timeout, load_avg=load_avg)
    for e in events:
        kind = e.get("event")
        if kind == "loaded":
            m.load_s = e.get("load_s")
        elif kind == "run":
            m.times.append(float(e["time"]))
            if e.get("peak_mb") is not None:
                m.peaks.append(float(e["peak_mb"]))
            if m.peak_mb is None:
                m.peak_mb = e.get("peak_mb")
                m.baseline_mb = e.get("baseline_mb")
        elif kind == "info":
            m.info.update({k: v for k, v in e.items() if k != "event"})
        elif kind in ("error", "unsupported"):
            m.status = kind
            m.message = e.get("message", "")
    if m.status == "ok":
        if killed and not m.times:
            m.status = "timeout"
            m.message = "load timeout" if loaded_at is None else f"fit exceeded {timeout:g} s"
        elif not m.times:
            m.status = "error"
            tail = output.strip().splitlines()[-5:]
            m.message = f"worker exited with code {proc.returncode}: " + " | ".join(tail)
        elif killed:
            m.message = f"repeats stopped at the {timeout:g} s budget"
    return m


def measure(
    module: str,
    case: str,
    *,
    params: dict | None = None,
    repeat: int = 3,
    timeout: float = 600.0,
    load_timeout: float = 600.0,
    env: dict | None = None,
) -> Measurement:
    """Time ``module.prepare(case, **params).fit()`` in a fresh Python process: median of
    ``repeat`` runs (fewer if the budget ``timeout`` would be exceeded), peak memory of the
    first run above the baseline of the process after imports and data loading."""
    spec = {"module": module, "case": case, "params": params or {}, "repeat": repeat,
            "budget": timeout}
    fd, name = tempfile.mkstemp(prefix="bench-", suffix=".jsonl", dir=out_dir("tmp"))
    os.close(fd)
    result_file = Path(name)
    spec["result_file"] = str(result_file)
    cmd = [sys.executable, str(BENCH_DIR / "common.py"), "--worker", json.dumps(spec)]
    return run_protocol(cmd, result_file, timeout=timeout, load_timeout=load_timeout, env=env)


THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
               "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "RAYON_NUM_THREADS")


def thread_env(threads: int | None) -> dict | None:
    """Environment for worker processes with BLAS/OpenMP/rayon limited to ``threads``
    (None or 0: the libraries' defaults, i.e. the inherited environment)."""
    if not threads:
        return None
    env = os.environ.copy()
    env.update({k: str(threads) for k in THREAD_VARS})
    return env


def threads_text(threads: int | None) -> str:
    if threads:
        return f"{threads} (set through {', '.join(THREAD_VARS)})"
    set_vars = {k: os.environ[k] for k in THREAD_VARS if k in os.environ}
    return "library defaults" + (f" (environment: {set_vars})" if set_vars else "")


# --------------------------------------------------------------------------- worker


def _emit(path: str, **event: Any) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(event, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    try:
        import numpy as np

        if isinstance(obj, np.ndarray):
            return obj.tolist()
        if isinstance(obj, np.generic):
            return obj.item()
    except ImportError:
        pass
    return str(obj)


def _emit_failure(out: str, exc: Exception, stage: str = "") -> None:
    """Report a tool that cannot fit the case (NotImplementedError) or an error."""
    if isinstance(exc, NotImplementedError):
        _emit(out, event="unsupported", message=f"{type(exc).__name__}: {exc}")
    else:
        _emit(out, event="error", message=f"{stage}{type(exc).__name__}: {exc}",
              traceback=traceback.format_exc(limit=6))


def _worker(spec: dict) -> None:
    out = spec["result_file"]
    sys.path.insert(0, str(BENCH_DIR))
    try:
        t0 = time.perf_counter()
        mod = importlib.import_module(spec["module"])
        prepared: Prepared = mod.prepare(spec["case"], **spec["params"])
        load_s = time.perf_counter() - t0
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        _emit_failure(out, exc, "prepare: ")
        return
    _emit(out, event="loaded", load_s=load_s)
    budget = float(spec.get("budget", 600.0))
    repeat = max(1, int(spec.get("repeat", 3)))
    spent = 0.0
    for i in range(repeat):
        gc.collect()
        exact = reset_peak()
        base = rss_mb() if exact else peak_mb()
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                t = time.perf_counter()
                result = prepared.fit()
                elapsed = time.perf_counter() - t
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            _emit_failure(out, exc)
            return
        peak = peak_mb()
        _emit(out, event="run", time=elapsed, peak_mb=max(peak - base, 0.0), baseline_mb=base,
              exact_peak=exact)
        spent += elapsed
        if i == 0:
            msgs = sorted({f"{w.category.__name__}: {str(w.message)[:160]}" for w in caught})
            info: dict = {"warnings": msgs[:5]}
            if prepared.note:
                info["note"] = prepared.note
            if prepared.summarize is not None:
                try:
                    info.update(prepared.summarize(result))
                except Exception as exc:  # noqa: BLE001
                    info["summarize_error"] = f"{type(exc).__name__}: {exc}"
            _emit(out, event="info", **info)
        del result
        if spent + elapsed > budget:
            break
    _emit(out, event="done")


# --------------------------------------------------------------------------- reports


def fmt_seconds(s: float | None) -> str:
    if s is None:
        return "—"
    if s < 0.01:
        return f"{s * 1000:.2f} ms"
    if s < 1:
        return f"{s:.3f}"
    if s < 100:
        return f"{s:.2f}"
    return f"{s:.0f}"


def fmt_mb(mb: float | None) -> str:
    if mb is None:
        return "—"
    return f"{mb:.1f}" if mb < 100 else f"{mb:.0f}"


def fmt_num(x: float | None, digits: int = 4) -> str:
    if x is None:
        return "—"
    try:
        return f"{float(x):.{digits}g}"
    except (TypeError, ValueError):
        return str(x)


def fmt_ratio(x: float | None) -> str:
    if x is None:
        return "—"
    if x >= 10:
        return f"{x:.1f}x"
    return f"{x:.2f}x" if x >= 0.1 else f"{x:.2g}x"


def md_table(headers: Sequence[str], rows: Sequence[Sequence[Any]],
             align: str | None = None) -> str:
    """A GitHub Markdown table; ``align`` has one letter per column: l, r or c."""
    align = align or "l" + "r" * (len(headers) - 1)
    marks = {"l": ":---", "r": "---:", "c": ":---:"}
    def cell(v: Any) -> str:
        return ("—" if v is None else str(v)).replace("|", "\\|").replace("\n", " ")
    lines = [
        "| " + " | ".join(cell(h) for h in headers) + " |",
        "|" + "|".join(marks[a] for a in align) + "|",
    ]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def machine_info() -> dict[str, str]:
    """Where and with what the benchmark ran (for the report header)."""
    info = {"python": platform.python_version(), "platform": platform.platform()}
    try:
        with open("/proc/cpuinfo") as f:
            model = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")),
                         "")
        info["cpu"] = f"{model} ({os.cpu_count()} logical CPUs)"
    except OSError:
        info["cpu"] = f"{os.cpu_count()} logical CPUs"
    for lib in ("numpy", "scipy", "pandas", "hglm"):
        try:
            info[lib] = importlib.import_module(lib).__version__
        except Exception:  # noqa: BLE001
            info[lib] = "not installed"
    try:
        from threadpoolctl import threadpool_info

        blas = [f"{d.get('internal_api')} {d.get('version')} ({d.get('num_threads')} threads)"
                for d in threadpool_info() if d.get("user_api") == "blas"]
        info["blas"] = ", ".join(blas) or "unknown"
    except ImportError:
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_DIR,
                                capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src"], cwd=REPO_DIR,
                               capture_output=True, text=True, check=True).stdout.strip()
        info["commit"] = commit + (" + uncommitted changes in src/" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        pass
    try:
        info["load average (1/5/15 min, at report time)"] = " / ".join(
            f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        pass
    info["date"] = time.strftime("%Y-%m-%d %H:%M %Z")
    return info


def command_line() -> str:
    """How this script was invoked, for a report's header."""
    script = Path(sys.argv[0]).resolve()
    try:
        shown = script.relative_to(REPO_DIR).as_posix()
    except ValueError:
        shown = str(script)
    return shlex.join(["python", shown, *sys.argv[1:]])


def machine_text() -> str:
    return "\n".join(f"- {k}: {v}" for k, v in machine_info().items())


def rel_diff(a: Sequence[float], b: Sequence[float]) -> float:
    """max |a - b| / max(|b|, 1e-12), elementwise."""
    return max((abs(float(x) - float(y)) / max(abs(float(y)), 1e-12)
                for x, y in zip(a, b, strict=True)), default=0.0)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        _worker(json.loads(sys.argv[2]))
    else:
        print(__doc__)


def add_problem_arguments(ap: argparse.ArgumentParser, tools: Sequence[str] | None = None,
                          ) -> None:
    """The options shared by the scripts of the benchmark problems (``bench_problems``):
    --shared, --only, --quick, --repeat and, given the ``tools``, --tools."""
    ap.add_argument("--shared", help="the shared/ directory (default: $HGLM_SHARED or ../shared)")
    ap.add_argument("--only", help="comma-separated problems, e.g. p1s,p2s")
    ap.add_argument("--quick", action="store_true", help="skip p1l, p2l and InstEval")
    if tools is not None:
        ap.add_argument("--tools", default=",".join(tools), help=f"subset of {','.join(tools)}")
    ap.add_argument("--repeat", type=int, default=3)


def add_rounds_argument(ap: argparse.ArgumentParser) -> None:
    """--rounds: fresh processes per tool and problem, the tools' processes in turn."""
    ap.add_argument("--rounds", type=int, default=1,
                    help="fresh processes per tool and problem, run in turn (tool order "
                         "rotated each round) so that a slow spell of a shared machine "
                         "moves every tool alike; the median is over all their runs")


def tool_list(text: str) -> list[str]:
    """The tools named by a comma-separated --tools value."""
    return [t.strip() for t in text.split(",") if t.strip()]
