"""Scale benchmark harness: screen generated workbooks and compare with simply reading them.

    python benchmarks/run.py [--sizes 10k,100k,1m] [--cases floor,fastexcel,json,report,match]
                             [--repeat 1] [--profile] [--markdown]

For each size it makes the workbook if missing (benchmarks/make_workbook.py), then
runs every case in its own subprocess, measuring wall time, peak RSS (the
child's ``ru_maxrss`` from ``wait4``: the largest single process) and, in one more
run of each case, the peak summed PSS of the process and its children (sampled from
/proc: what a run that forks workers takes from the machine, shared pages counted
once). PSS is read in a run of its own because reading it walks the page tables of
every process measured: on a machine whose cores the run keeps busy, that took about
1 s of a 1M-row JSON screen's 21 s (``--pss-while-timing`` samples it in the timed
runs instead, as rounds before this change did):

- ``floor``     python-calamine ``to_python()`` of every sheet: the read floor every ratio uses;
- ``fastexcel`` fastexcel into Arrow, for comparison;
- ``intake``    ``feocscreen validate FILE --format json``: reading and validation alone;
- ``json``      ``feocscreen screen FILE --json OUT``, end to end;
- ``report``    the same with ``-o report.xlsx`` as well;
- ``dask``      the Dask engine's intake of the same rows as Parquet tables, on a
                LocalCluster of 2 worker processes (benchmarks/bench_dask.py);
- ``dask_screen`` the Dask engine end to end on the same tables (Parquet + summary out);
- ``match``     benchmarks/match_bench.py (matching against a 1M-entry list), when present.

Ratios are wall time of the case over the floor's read time (imports excluded from
the floor, included in the case: that is what a user waits for). Rows/s count the
Sourcing rows of the size. Prints a rich table and writes
benchmarks/results/bench-<UTC time>.json (git-ignored) with the machine described.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from sizes import parse_size, size_label, workbook_path  # noqa: E402

PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024 if hasattr(os, "sysconf") else 4
ALL_CASES = ("floor", "fastexcel", "intake", "json", "report", "dask", "dask_screen", "match")
MATCH_BENCH = HERE / "match_bench.py"
# Targets from issue 7, as ratios to the floor's read time at Excel's row limit.
TARGET_RATIO = {"json": 3.0, "report": 6.0}
# One process and minutes long: its peak RSS (wait4) is its memory, no PSS run needed.
NO_MEMORY_RUN = frozenset({"match"})
TARGET_PEAK_MIB = 2048
# Cases whose script times the operation itself (imports and cluster start-up excluded).
OP_TIMED = {"floor", "fastexcel", "dask", "dask_screen"}


@dataclass
class Run:
    """One subprocess run of one case."""

    wall_s: float
    peak_rss_mib: float
    exit_code: int
    cpu_s: float = 0.0  # user + system time of the child: less sensitive to a busy machine
    reported: dict[str, Any] = field(default_factory=dict)  # the JSON line a bench script printed
    stderr_tail: str = ""
    stdout_tail: str = ""  # what a bench script printed, when it printed no JSON line
    # the largest sum over the process and its children of their proportional set size
    # (shared pages split between the processes sharing them), sampled (see PssSampler):
    # what the run takes from the machine when it forks workers; None when not sampled
    peak_pss_mib: float | None = None


@dataclass
class CaseResult:
    """Every run of one case at one size, and the figures derived from them."""

    case: str
    size: str
    rows: int
    command: list[str]
    runs: list[Run] = field(default_factory=list)  # the timed runs
    memory_run: Run | None = None  # the run PSS was sampled in, when not in the timed runs
    skipped: str | None = None

    @property
    def ok(self) -> bool:
        return self.skipped is None and bool(self.runs) and all(r.exit_code == 0 for r in self.runs)

    @property
    def wall_s(self) -> float | None:
        return statistics.median(r.wall_s for r in self.runs) if self.runs else None

    @property
    def cpu_s(self) -> float | None:
        return statistics.median(r.cpu_s for r in self.runs) if self.runs else None

    @property
    def op_s(self) -> float | None:
        """Seconds the operation itself took, when the bench script reported it."""
        values = [r.reported["seconds"] for r in self.runs if "seconds" in r.reported]
        return statistics.median(values) if values else None

    @property
    def every_run(self) -> list[Run]:
        """The timed runs and the memory run: each one's peak counts."""
        return [*self.runs, *([self.memory_run] if self.memory_run else [])]

    @property
    def peak_rss_mib(self) -> float | None:
        every = self.every_run
        return max(r.peak_rss_mib for r in every) if every else None

    @property
    def peak_pss_mib(self) -> float | None:
        values = [r.peak_pss_mib for r in self.every_run if r.peak_pss_mib is not None]
        return max(values) if values else None

    def to_dict(self, floor_s: float | None, floor_cpu_s: float | None = None) -> dict[str, Any]:
        if self.case == "match":  # a watchlist, not the workbook: the read floor says nothing
            floor_s = floor_cpu_s = None
        seconds = self.op_s if self.case in OP_TIMED else self.wall_s
        return {
            "case": self.case,
            "size": self.size,
            "rows": self.rows,
            "command": self.command,
            "ok": self.ok,
            "skipped": self.skipped,
            "wall_s": self.wall_s,
            "cpu_s": self.cpu_s,
            "op_s": self.op_s,
            "seconds": seconds,
            "rows_per_s": (self.rows / seconds) if seconds else None,
            "peak_rss_mib": self.peak_rss_mib,
            "peak_pss_mib": self.peak_pss_mib,
            "ratio_to_floor": (seconds / floor_s) if (seconds and floor_s) else None,
            # CPU time over the floor process's CPU time: steadier when the machine is busy
            "cpu_ratio_to_floor": (self.cpu_s / floor_cpu_s)
            if (self.cpu_s and floor_cpu_s)
            else None,
            "runs": [asdict(r) for r in self.runs],
            "memory_run": asdict(self.memory_run) if self.memory_run else None,
        }


def measure(command: list[str], timeout: float, cwd: Path, pss: bool = False) -> Run:
    """Run ``command`` to completion; wall time and the child's peak RSS from wait4, and
    with ``pss`` the peak PSS of it and its children, sampled while it runs."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(command, stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=cwd)
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        sampler = PssSampler(proc.pid) if pss else None
        if sampler is not None:
            sampler.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
            if sampler is not None:
                sampler.stop()
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        stderr = err.read().decode("utf-8", "replace")
    reported: dict[str, Any] = {}
    for line in reversed(stdout.strip().splitlines()):
        if line.startswith("{"):
            try:
                reported = json.loads(line)
            except json.JSONDecodeError:
                continue
            break
    # ru_maxrss is in KiB on Linux.
    tail = "" if reported else stdout[-3000:]
    return Run(
        wall,
        usage.ru_maxrss / 1024,
        proc.returncode,
        usage.ru_utime + usage.ru_stime,
        reported,
        stderr[-2000:],
        tail,
        sampler.peak_mib if sampler is not None else None,
    )


class PssSampler(threading.Thread):
    """Samples the summed PSS of a process and its descendants (Linux /proc; else None).

    Reading PSS walks a process's page tables: about 40 ms of CPU for a 1.5 GB process,
    taken from the run being measured when that run keeps every core busy (every 0.2 s
    it was a fifth of a core, ~3 s of a 1M-row JSON run). So the tree's RSS, a counter
    read, is watched every ``interval`` and PSS is read only when that RSS is a new high
    (by ``RISE_KIB``) or ``PSS_EVERY`` seconds have passed. PSS never exceeds RSS, so a
    PSS peak comes with RSS at or near its high: rises are sampled, plateaus rarely.
    """

    RISE_KIB = 16 * 1024
    PSS_EVERY = 1.0

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak_mib: float | None = None
        self._done = threading.Event()

    def stop(self) -> None:
        self._done.set()
        self.join()

    def run(self) -> None:
        if not Path(f"/proc/{self.pid}/smaps_rollup").exists():
            return
        rss_high, last_pss = 0, 0.0
        while not self._done.wait(self.interval):
            pids = _tree(self.pid)
            rss = sum(_rss_kib(pid) for pid in pids)
            now = time.monotonic()
            if rss < rss_high + self.RISE_KIB and now - last_pss < self.PSS_EVERY:
                continue
            rss_high, last_pss = max(rss_high, rss), now
            total = sum(_pss_kib(pid) for pid in pids)
            if total:
                self.peak_mib = max(self.peak_mib or 0.0, total / 1024)


def _tree(root: int) -> list[int]:
    """The process and every descendant, from the parent ids in /proc/*/stat."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def _rss_kib(pid: int) -> int:
    try:  # statm: pages, from counters (no page-table walk)
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_KIB
    except (OSError, ValueError, IndexError):
        return 0


def _pss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def feocscreen_command() -> list[str]:
    """How to start the CLI from this interpreter (its console script, else ``-c``)."""
    script = Path(sys.executable).with_name("feocscreen")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from feocscreen.cli import main; sys.exit(main())"]


def screen_options() -> tuple[str | None, str]:
    """Whether ``feocscreen screen`` exists yet, and its --help text (to pick options it knows)."""
    try:
        done = subprocess.run(
            [*feocscreen_command(), "screen", "--help"],
            capture_output=True,
            text=True,
            timeout=120,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"feocscreen cannot start: {exc}", ""
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        return "`feocscreen screen` is not available yet: " + (lines[-1] if lines else "?"), ""
    return None, done.stdout


def ensure_data(rows: int, data: Path, fmt: str = "xlsx") -> Path:
    """The generated workbook (or Parquet tables) of a size, made now if missing."""
    path = workbook_path(data, rows)
    if fmt != "xlsx":
        path = data / f"portfolio_{size_label(rows)}_{fmt}"
    if not path.exists():
        subprocess.run(
            [
                sys.executable,
                str(HERE / "make_workbook.py"),
                "--sizes",
                str(rows),
                "--out",
                str(data),
                "--formats",
                fmt,
            ],
            check=True,
        )
    return path


def build_cases(
    cases: list[str],
    rows: int,
    workbook: Path,
    tables: Path | None,
    out_dir: Path,
    help_text: str,
    skip: str | None,
    match_args: list[str],
) -> list[CaseResult]:
    """The command of every requested case at one size."""
    label = size_label(rows)
    quiet = ["--quiet"] if "--quiet" in help_text else []
    screen = [*feocscreen_command(), "screen", str(workbook), *quiet]
    commands: dict[str, tuple[list[str], str | None]] = {
        "floor": ([sys.executable, str(HERE / "bench_read.py"), "calamine", str(workbook)], None),
        "fastexcel": (
            [sys.executable, str(HERE / "bench_read.py"), "fastexcel", str(workbook)],
            None,
        ),
        "intake": ([*feocscreen_command(), "validate", str(workbook), "--format", "json"], None),
        "json": ([*screen, "--json", str(out_dir / f"result_{label}.json")], skip),
        "dask": (
            [sys.executable, str(HERE / "bench_dask.py"), str(tables)] if tables else [],
            None if tables else "no Parquet tables",
        ),
        "dask_screen": (
            [
                sys.executable,
                str(HERE / "bench_dask.py"),
                str(tables),
                "--screen",
                str(out_dir / f"dask_{label}"),
            ]
            if tables
            else [],
            None if tables else "no Parquet tables",
        ),
        "report": (
            [
                *screen,
                "--json",
                str(out_dir / f"result_{label}_r.json"),
                "-o",
                str(out_dir / f"report_{label}.xlsx"),
            ],
            skip,
        ),
        "match": (
            [sys.executable, str(MATCH_BENCH), *match_args],
            None if MATCH_BENCH.exists() else "benchmarks/match_bench.py is not in the tree yet",
        ),
    }
    entries = (
        int(match_args[match_args.index("--entries") + 1])
        if "--entries" in match_args[:-1]
        else 1_000_000
    )
    return [
        CaseResult(
            case,
            label,
            entries if case == "match" else rows,  # matching counts list entries
            commands[case][0],
            skipped=commands[case][1],
        )
        for case in cases
    ]


def machine() -> dict[str, Any]:
    """What the figures were measured on: CPU, cores, memory, Python and library versions."""
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kib = next(
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
    except (OSError, StopIteration):
        mem_kib = 0
    versions = {}
    for package in (
        "feocscreen",
        "pandas",
        "pyarrow",
        "python-calamine",
        "fastexcel",
        "openpyxl",
        "xlsxwriter",
        "pandera",
        "rapidfuzz",
        "numpy",
    ):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE
    ).stdout.strip()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "libraries": versions,
        "commit": commit or None,
    }


def profile(workbook: Path, out_dir: Path, results: Path, label: str, help_text: str) -> Path:
    """Profile one end-to-end JSON screen with pyinstrument; returns the text report's path."""
    quiet = ["--quiet"] if "--quiet" in help_text else []
    target = results / f"profile_{label}.txt"
    command = feocscreen_command()
    if len(command) == 1:
        runner = [sys.executable, "-m", "pyinstrument", "-r", "text", "-o", str(target), command[0]]
    else:
        runner = [
            sys.executable,
            "-m",
            "pyinstrument",
            "-r",
            "text",
            "-o",
            str(target),
            "-c",
            command[2],
        ]
    subprocess.run(
        [
            *runner,
            "screen",
            str(workbook),
            *quiet,
            "--json",
            str(out_dir / f"profiled_{label}.json"),
        ],
        check=False,
    )
    return target


def render(records: list[dict[str, Any]], markdown: bool) -> None:
    """Print the results as a rich table (and as Markdown for benchmarks/README.md)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="feocscreen scale benchmark", title_justify="left")
    headers = [
        "size",
        "case",
        "rows",
        "seconds",
        "CPU s",
        "rows/s",
        "peak RSS MiB",
        "peak PSS MiB, all processes",
        "× floor",
        "CPU × floor",
        "status",
    ]
    for header in headers:
        table.add_column(
            header, justify="left" if header in {"size", "case", "status"} else "right"
        )
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    notes: dict[str, str] = {}
    for r in records:
        if r["skipped"]:
            notes.setdefault(r["case"], r["skipped"])
        status = (
            "ok"
            if r["ok"]
            else ("skipped" if r["skipped"] else f"exit {r['runs'][-1]['exit_code']}")
        )
        cells = [
            r["size"],
            r["case"],
            f"{r['rows']:,}",
            "" if r["seconds"] is None else f"{r['seconds']:.2f}",
            "" if r["cpu_s"] is None else f"{r['cpu_s']:.2f}",
            "" if not r["rows_per_s"] else f"{r['rows_per_s'] / 1000:,.1f}k",
            "" if r["peak_rss_mib"] is None else f"{r['peak_rss_mib']:,.0f}",
            "" if r.get("peak_pss_mib") is None else f"{r['peak_pss_mib']:,.0f}",
            "" if r["ratio_to_floor"] is None else f"{r['ratio_to_floor']:.2f}",
            "" if r.get("cpu_ratio_to_floor") is None else f"{r['cpu_ratio_to_floor']:.2f}",
            status,
        ]
        table.add_row(*cells)
        lines.append("| " + " | ".join(cells) + " |")
    # Wide enough for every column when the output goes to a file or a pipe.
    console = Console() if sys.stdout.isatty() else Console(width=160)
    console.print(table)
    for case, why in notes.items():
        console.print(f"{case} skipped: {why}", markup=False)
    if markdown:
        print("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10k,100k", help="comma list: 10k,100k,1m or row counts")
    parser.add_argument("--cases", default=",".join(ALL_CASES), help=f"comma list of {ALL_CASES}")
    parser.add_argument("--repeat", type=int, default=1, help="runs per case (median reported)")
    parser.add_argument(
        "--timeout", type=float, default=1800.0, help="seconds before a run is killed"
    )
    parser.add_argument("--data", type=Path, default=HERE / "data")
    parser.add_argument("--results", type=Path, default=HERE / "results")
    parser.add_argument("--profile", action="store_true", help="also profile the JSON screen")
    parser.add_argument("--markdown", action="store_true", help="also print a Markdown table")
    parser.add_argument(
        "--pss-while-timing",
        action="store_true",
        help="sample PSS in the timed runs instead of one more run per case",
    )
    parser.add_argument(
        "--match-args",
        default="--entries 1000000",
        help="arguments for benchmarks/match_bench.py (its rows are list entries, not Sourcing rows)",
    )
    args = parser.parse_args(argv)
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = sorted(set(cases) - set(ALL_CASES))
    if unknown:
        parser.error(f"unknown cases {unknown}; choose from {ALL_CASES}")
    args.results.mkdir(parents=True, exist_ok=True)
    out_dir = args.results / "outputs"
    out_dir.mkdir(exist_ok=True)
    skip, help_text = screen_options()
    load_start = os.getloadavg()  # the machine is shared: a busy one inflates every figure

    records: list[dict[str, Any]] = []
    match_done = False
    for text in args.sizes.split(","):
        rows = parse_size(text)
        workbook = ensure_data(rows, args.data)
        tables = (
            ensure_data(rows, args.data, "parquet")
            if {"dask", "dask_screen"} & set(cases)
            else None
        )
        planned = build_cases(
            cases, rows, workbook, tables, out_dir, help_text, skip, args.match_args.split()
        )
        if match_done:  # the 1M-entry list does not depend on the workbook size: run it once
            planned = [c for c in planned if c.case != "match"]
        for repetition in range(args.repeat):
            for case in planned:
                if case.skipped:
                    continue
                print(
                    f"[{case.size}] {case.case} run {repetition + 1}/{args.repeat}", file=sys.stderr
                )
                case.runs.append(
                    measure(case.command, args.timeout, HERE.parent, args.pss_while_timing)
                )
                if case.runs[-1].exit_code != 0:
                    print(case.runs[-1].stderr_tail, file=sys.stderr)
        if not args.pss_while_timing:
            for case in planned:
                if case.ok and case.case not in NO_MEMORY_RUN:
                    print(f"[{case.size}] {case.case} memory run", file=sys.stderr)
                    case.memory_run = measure(case.command, args.timeout, HERE.parent, pss=True)
        match_done = match_done or any(c.case == "match" and c.runs for c in planned)
        floor = next((c for c in planned if c.case == "floor" and c.ok), None)
        floor_s = floor.op_s if floor else None
        floor_cpu_s = floor.cpu_s if floor else None
        records.extend(c.to_dict(floor_s, floor_cpu_s) for c in planned)
        if args.profile and skip is None:
            path = profile(workbook, out_dir, args.results, size_label(rows), help_text)
            print(f"profile: {path}", file=sys.stderr)

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    report = {
        "generated_at": stamp,
        "machine": {
            **machine(),
            "load_average_start": load_start,
            "load_average_end": os.getloadavg(),
        },
        "targets": {"ratio_to_floor": TARGET_RATIO, "peak_rss_mib": TARGET_PEAK_MIB},
        "results": records,
    }
    target = args.results / f"bench-{stamp}.json"
    target.write_text(json.dumps(report, indent=2))
    shutil.copyfile(target, args.results / "latest.json")
    render(records, args.markdown)
    print(f"results: {target}", file=sys.stderr)
    failed = [r for r in records if not r["ok"] and not r["skipped"]]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
