"""Time hglm and its peers in ONE process, fits in a loop, as users run them.

Usage (from the repository root)::

    python benchmarks/bench_inprocess.py [--only p1s,p2s] [--quick]
        [--tools hglm,hglm_ml,glmm,mixedlm,statsmodels,lme4] [--repeat 3]
        [--timeout 120] [--fresh] [--rounds 1] [--out benchmarks/RESULTS_inprocess.md]

Model selection, bootstraps and simulations fit many models in one process; there a fit
pays for its own allocations again (the heap it freed is returned to the system and
re-touched), but no imports or first-call costs.  Per problem, every Python tool's data is
loaded once, each tool fits once as a warm-up, then the tools fit ``--repeat`` times in
turn, interleaved (tool order rotated each round), so that the load of a shared machine
moves all of them alike: the ratios of one run are what counts, not absolute seconds.
Each fit reports its wall time, the peak resident memory above the resident size before
it (``/proc/self/clear_refs``), and its minor page faults (``getrusage``).  ``hglm`` is the
EQL fit of ``peers.py``, ``hglm_ml`` the marginal-likelihood fit (REML for the Gaussian
problems, Laplace ML otherwise: the peers' objective).  lme4 runs in its own ``Rscript``
process, fits in an R loop after one warm-up fit (``lme4_fit.R``).  A warm-up longer than
``--timeout`` is stopped (Python peers only; the alarm fires when the fit returns to
Python) and the tool skipped on that problem; repeats stop when the next would exceed the
budget, and a tool whose warm-up alone used it is reported from the warm-up.

``--fresh`` also runs the fresh-process protocol of ``peers.py`` (one process per tool and
problem, data loaded, median of the repeats; with ``--rounds R``, R processes per tool and
problem, the tools' in turn, median of all their runs) in the same run, for the second
table.
Writes ``benchmarks/RESULTS_inprocess.md`` and ``benchmarks/out/RESULTS_inprocess.json``.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import signal
import statistics
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_problems as bp  # noqa: E402
import peers  # noqa: E402
from common import (  # noqa: E402
    BENCH_DIR,
    Measurement,
    Prepared,
    add_problem_arguments,
    add_rounds_argument,
    command_line,
    fmt_mb,
    fmt_num,
    fmt_ratio,
    fmt_seconds,
    machine_text,
    md_table,
    measure,
    out_dir,
    peak_mb,
    pooled,
    problem_data,
    reset_peak,
    rotated,
    rss_mb,
    shared_dir,
    thread_env,
    threads_text,
    tool_list,
)

TOOLS = ["hglm", "hglm_ml", "glmm", "mixedlm", "statsmodels", "lme4"]
OURS = ("hglm", "hglm_ml")
PROBLEMS = ["p1s", "p1l", "p2s", "p2l", "p3", "p5", "insteval_gauss", "insteval_binom"]


@dataclass
class Series:
    """The fits of one tool on one problem in this process."""

    status: str = "ok"  # ok | timeout | error | n/a | skipped
    times: list[float] = field(default_factory=list)
    peaks: list[float] = field(default_factory=list)
    faults: list[int] = field(default_factory=list)
    warmup: float | None = None
    info: dict = field(default_factory=dict)
    message: str = ""

    @property
    def seconds(self) -> float | None:
        if self.times:
            return statistics.median(self.times)
        return self.warmup if self.status == "ok" else None

    def time_text(self) -> str:
        if self.times:
            return f"{fmt_seconds(self.seconds)} [{fmt_seconds(min(self.times))}, " \
                   f"{fmt_seconds(max(self.times))}]"
        if self.warmup is not None and self.status == "ok":
            return f"{fmt_seconds(self.warmup)} (warm-up only)"
        return self.status

    def to_dict(self) -> dict:
        return {"status": self.status, "seconds": self.seconds, "times": self.times,
                "peaks_mb": self.peaks, "minor_faults": self.faults, "warmup": self.warmup,
                "info": self.info, "message": self.message}


class FitTimeout(Exception):
    """A warm-up fit ran past its budget."""


def _alarm(signum: int, frame: Any) -> None:
    raise FitTimeout


def _tool_case(tool: str) -> tuple[str, str]:
    """(peers.py's tool, hglm's method) of one of our tools."""
    return ("hglm", "ML") if tool == "hglm_ml" else (tool, "EQL")


def _prepare(tool: str, problem: str, data_dir: Path, shared: Path) -> Prepared:
    name, method = _tool_case(tool)
    return peers.prepare(f"{name}:{problem}", str(data_dir), str(shared), method)


def _timed(fit: Any) -> tuple[Any, float, float, int]:
    """(result, seconds, peak MB above the resident size before, minor page faults)."""
    gc.collect()
    reset_peak()
    base = rss_mb()
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    t0 = time.perf_counter()
    result = fit()
    elapsed = time.perf_counter() - t0
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    return result, elapsed, max(peak_mb() - base, 0.0), faults


def _warm_up(prepared: Prepared, timeout: float, series: Series) -> None:
    """The first fit (summary and warnings kept), stopped at ``timeout`` seconds."""
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result, series.warmup, _, _ = _timed(prepared.fit)
    except FitTimeout:
        series.status, series.message = "timeout", f"warm-up exceeded {timeout:g} s"
        return
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        series.status, series.message = "error", f"{type(exc).__name__}: {exc}"[:200]
        return
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    msgs = sorted({f"{w.category.__name__}: {str(w.message)[:120]}" for w in caught})
    series.info = {"warnings": msgs[:3]}
    if prepared.summarize is not None:
        series.info.update(prepared.summarize(result))


def run_problem(problem: str, tools: list[str], data_dir: Path, shared: Path,
                repeat: int, timeout: float) -> dict[str, Series]:
    """The in-process series of the Python tools on ``problem`` (module docstring)."""
    out: dict[str, Series] = {}
    prepared: dict[str, Prepared] = {}
    for tool in tools:
        name, _ = _tool_case(tool)
        if (name, problem) in peers.NOT_APPLICABLE:
            out[tool] = Series("n/a", message=peers.NOT_APPLICABLE[(name, problem)])
            continue
        out[tool] = Series()
        try:
            prepared[tool] = _prepare(tool, problem, data_dir, shared)
        except NotImplementedError as exc:
            out[tool] = Series("n/a", message=str(exc))
            continue
        _warm_up(prepared[tool], timeout, out[tool])
        if out[tool].status != "ok":
            del prepared[tool]
    active = list(prepared)
    spent = {tool: 0.0 for tool in active}
    for r in range(repeat):
        order = active[r % len(active):] + active[: r % len(active)] if active else []
        for tool in order:
            last = out[tool].times[-1] if out[tool].times else out[tool].warmup
            if spent[tool] + out[tool].warmup + last > timeout:
                continue
            result, sec, peak, faults = _timed(prepared[tool].fit)
            del result
            s = out[tool]
            s.times.append(sec)
            s.peaks.append(peak)
            s.faults.append(faults)
            spent[tool] += sec
    return out


def run_lme4(problem: str, data_dir: Path, shared: Path, repeat: int, timeout: float,
             threads: int) -> Series:
    """lme4's in-R loop: one warm-up fit, then ``repeat`` timed fits in the same R, each
    with its peak resident size above the one before it (as hglm's in this process)."""
    m = peers.measure_lme4(problem, data_dir, shared, repeat + 1, timeout, thread_env(threads))
    s = Series(m.status if m.status == "ok" else m.status, info=m.info, message=m.message)
    if m.times:
        s.warmup, s.times = m.times[0], m.times[1:]
        s.peaks = m.peaks[1:]
    return s


def fresh_process(problem: str, tool: str, data_dir: Path, shared: Path, repeat: int,
                  timeout: float, threads: int) -> Measurement:
    """``peers.py``'s measurement: a fresh process per tool and problem."""
    name, method = _tool_case(tool)
    if (name, problem) in peers.NOT_APPLICABLE:
        return Measurement("n/a", message=peers.NOT_APPLICABLE[(name, problem)])
    if tool == "lme4":
        return peers.measure_lme4(problem, data_dir, shared, repeat, timeout,
                                  thread_env(threads))
    return measure("peers", f"{name}:{problem}",
                   params={"data_dir": str(data_dir), "shared": str(shared), "method": method},
                   repeat=repeat, timeout=timeout, env=thread_env(threads))


def fresh_rounds(problem: str, tools: list[str], data_dir: Path, shared: Path,
                 args: argparse.Namespace, lme4_reason: str | None) -> dict[str, Measurement]:
    """:func:`fresh_process` for every tool, ``args.rounds`` times in turn (the tools'
    order rotated each round), pooled (``common.pooled``)."""
    rounds: dict[str, list[Measurement]] = {t: [] for t in tools}
    for k in range(max(args.rounds, 1)):
        for t in rotated(tools, k):
            rounds[t].append(
                Measurement("skipped", message=lme4_reason) if t == "lme4" and lme4_reason
                else fresh_process(problem, t, data_dir, shared, args.repeat, args.timeout,
                                   args.threads))
    return {t: pooled(rounds[t]) for t in tools}


# --------------------------------------------------------------------------- report


def _best_peer(row: dict[str, Any], tools: list[str]) -> tuple[str, float] | None:
    cells = [(t, row[t].seconds) for t in tools if t not in OURS and row[t].seconds]
    return min(cells, key=lambda tv: tv[1]) if cells else None


def ratio_rows(results: dict[str, dict[str, Any]], tools: list[str]) -> list[list[str]]:
    """Per problem and hglm method: hglm's time over each peer's and the fastest's."""
    rows = []
    peer_tools = [t for t in tools if t not in OURS]
    for problem, row in results.items():
        best = _best_peer(row, tools)
        for ours in (t for t in tools if t in OURS):
            sec = row[ours].seconds
            cells = [fmt_ratio(sec / row[t].seconds) if sec and row[t].seconds else "—"
                     for t in peer_tools]
            fastest = (f"{fmt_ratio(sec / best[1])} ({best[0]})" if sec and best else "—")
            rows.append([problem, ours, *cells, fastest])
    return rows


def tables(results: dict[str, dict[str, Any]], tools: list[str], in_process: bool) -> str:
    peer_tools = [t for t in tools if t not in OURS]
    times = [[p] + [row[t].time_text() for t in tools] for p, row in results.items()]
    mems = [[p] + [fmt_mb(max(row[t].peaks) if row[t].peaks else None) if in_process
                   else fmt_mb(row[t].peak_mb) for t in tools] for p, row in results.items()]
    parts = [
        "### Seconds" + (" (median [min, max] of the repeats)" if in_process else
                         " (median of the repeats)") + "\n\n"
        + md_table(["problem"] + tools, times),
        "### Ratio hglm / peer (< 1: hglm faster)\n\n"
        + md_table(["problem", "hglm fit"] + peer_tools + ["fastest peer"],
                   ratio_rows(results, tools)),
        "### Peak fit memory (MB above the resident size before the fit"
        + (", largest of the repeats" if in_process else ", first fit") + ")\n\n"
        + md_table(["problem"] + tools, mems),
    ]
    if in_process:
        faults = [[p] + [fmt_num(statistics.median(row[t].faults), 3) if row[t].faults
                         else "—" for t in tools if t != "lme4"] for p, row in results.items()]
        parts.append("### Minor page faults per fit (median)\n\n"
                     + md_table(["problem"] + [t for t in tools if t != "lme4"], faults))
    return "\n\n".join(parts)


def estimate_rows(results: dict[str, dict[str, Series]]) -> list[list[str]]:
    rows = []
    for problem, row in results.items():
        for tool, s in row.items():
            if "fixef" in s.info:
                rows.append([problem, tool, ", ".join(fmt_num(v) for v in s.info["fixef"]),
                             ", ".join(fmt_num(v) for v in s.info["var_ranef"]),
                             fmt_num(s.info.get("dispersion")),
                             fmt_num(s.info.get("loglik"), 10)])
    return rows


def notes(results: dict[str, dict[str, Any]]) -> list[str]:
    out = []
    for problem, row in results.items():
        for tool, s in row.items():
            if s.message:
                out.append(f"- {problem} / {tool}: {s.status}: {s.message}")
            for w in s.info.get("warnings", []):
                out.append(f"- {problem} / {tool}: {w}")
    return list(dict.fromkeys(out))


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_problem_arguments(ap, TOOLS)
    add_rounds_argument(ap)
    ap.add_argument("--timeout", type=float, default=120.0,
                    help="seconds per tool and problem (warm-up and repeats)")
    ap.add_argument("--threads", type=int, default=0,
                    help="lme4's and the fresh processes' BLAS threads (0: defaults)")
    ap.add_argument("--fresh", action="store_true",
                    help="also time every fit in a fresh process (peers.py's protocol)")
    ap.add_argument("--out", default=str(BENCH_DIR / "RESULTS_inprocess.md"))
    args = ap.parse_args(argv)

    tools = tool_list(args.tools)
    bad = sorted(set(tools) - set(TOOLS))
    if bad or not any(t in OURS for t in tools):
        ap.error(f"--tools: give hglm and/or hglm_ml and peers of {TOOLS}")
    shared = shared_dir(args.shared)
    data_dir = problem_data(shared)
    problems = [p for p in bp.select(args.only, args.quick) if p in PROBLEMS]
    lme4_reason = peers.lme4_available() if "lme4" in tools else None
    py_tools = [t for t in tools if t != "lme4"]

    inproc: dict[str, dict[str, Series]] = {}
    fresh: dict[str, dict[str, Measurement]] = {}
    for problem in problems:
        row = run_problem(problem, py_tools, data_dir, shared, args.repeat, args.timeout)
        if "lme4" in tools:
            row["lme4"] = (Series("skipped", message=lme4_reason) if lme4_reason else
                           run_lme4(problem, data_dir, shared, args.repeat, args.timeout,
                                    args.threads))
        inproc[problem] = {t: row[t] for t in tools}
        print(f"{problem:15s} " + "  ".join(f"{t} {row[t].time_text()}" for t in tools),
              flush=True)
        if args.fresh:
            fresh[problem] = fresh_rounds(problem, tools, data_dir, shared, args, lme4_reason)
            print(f"{'  fresh':15s} " + "  ".join(
                f"{t} {fresh[problem][t].time_text()}" for t in tools), flush=True)

    sections = [
        "# hglm and its peers: fits in a loop in one process",
        f"Generated by `{command_line()}`. The protocol is in the docstring of "
        "`benchmarks/bench_inprocess.py`: per problem the data are loaded once, every tool "
        "fits once as a warm-up, then the tools fit in turn, interleaved, "
        f"{args.repeat} times; wall seconds of the fit call (formula and data frame in, "
        "fitted model out). `hglm`: EQL (binomial/Poisson dispersion fixed at 1); "
        "`hglm_ml`: REML for the Gaussian problems, Laplace ML otherwise (the peers' "
        "objective). glmm, mixedlm and lme4 fit by Laplace (LMMs by REML), statsmodels "
        "MixedLM by REML; lme4 in its own R process (its in-R loop, after one warm-up fit; "
        "InstEval binomial with nAGQ = 0).",
        "## In one process\n\n" + tables(inproc, tools, True),
    ]
    if fresh:
        rounds = (f" ({args.rounds} processes per tool and problem, in turn; median of "
                  "all their runs)" if args.rounds > 1 else "")
        sections.append(f"## Fresh process per fit series (peers.py's protocol){rounds}\n\n"
                        + tables(fresh, tools, False))
    sections += [
        "## Estimates (warm-up fit)\n\n" + md_table(
            ["problem", "tool", "fixed effects", "variance components", "dispersion",
             "log-likelihood"], estimate_rows(inproc), align="llllll"),
        "## Notes\n\n" + ("\n".join(notes(inproc) + notes(fresh)) or "- none"),
        "## Machine\n\n" + machine_text() + f"\n- threads: {threads_text(args.threads)}",
    ]
    Path(args.out).write_text("\n\n".join(sections) + "\n")
    raw = {"in_process": {p: {t: s.to_dict() for t, s in row.items()}
                          for p, row in inproc.items()},
           "fresh": {p: {t: m.to_dict() for t, m in row.items()} for p, row in fresh.items()}}
    (out_dir() / f"{Path(args.out).stem}.json").write_text(json.dumps(raw, indent=1))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
