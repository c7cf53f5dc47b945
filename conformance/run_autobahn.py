#!/usr/bin/env python3
"""Runs the Autobahn client conformance suite against wsnative and compares
the verdicts with the committed expectations.

The fuzzing server is kosoku (Autobahn TestSuite's cases, pinned by
conformance/setup.sh) on 127.0.0.1 with a free port; the client under test
is conformance/autobahn_client.c built on the C ABI. Per-case verdicts go
to build/autobahn/results.json, Autobahn-format reports (index.html and one
JSON/HTML file per case) to build/autobahn/reports/, the client's output to
build/autobahn/client.log.

Exit status: 0 when every verdict equals conformance/expected.json; 1 on
any difference (a regression, or an improvement not yet recorded: run
`make autobahn-update`); 2 when the run itself went wrong (client crashed
or hung, server never finished, wrong kosoku version, ...).

Run it with the interpreter of conformance/.venv (see setup.sh), or simply
`make autobahn` / `make autobahn-update` from the repository root.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import fnmatch
import json
import os
import shutil
import sys
import time
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

KOSOKU_VERSION = "0.1.0"
AGENT = "wsnative"
# Every case runs, permessage-deflate (12.*, 13.*) included.
DEFAULT_EXCLUDE: list[str] = []
BEHAVIORS = ["OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED", "ERROR"]


def case_key(case_id: str) -> list[int]:
    return [int(p) for p in case_id.split(".")]


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--client", default=str(ROOT / "build" / "autobahn_client"), help="the built autobahn_client")
    ap.add_argument("--outdir", default=str(ROOT / "build" / "autobahn"), help="results and reports directory")
    ap.add_argument("--expected", default=str(HERE / "expected.json"), help="committed expectations")
    ap.add_argument("--update", action="store_true", help="rewrite the expectations with this run's verdicts")
    ap.add_argument("--quick", action="store_true",
                    help="leave out the compression cases with the largest messages (for make test)")
    ap.add_argument(
        "-i", "--include", action="append", metavar="CASE",
        help="case id or glob to run (repeatable; default: all). Only those cases are compared"
        " (and, with --update, updated).",
    )
    ap.add_argument(
        "-x", "--exclude", action="append", metavar="CASE",
        help=f"case id or glob to leave out, in addition to {' '.join(DEFAULT_EXCLUDE)}",
    )
    ap.add_argument(
        "--reset-racy", action="store_true",
        help="with --update: record the observed verdict of racy cases too (drops their alternatives)",
    )
    ap.add_argument("--timeout", type=float, default=900, help="limit for the whole run, seconds")
    ap.add_argument("--case-timeout", type=int, default=60, help="limit for one case, seconds (client side)")
    ap.add_argument("--no-html", action="store_true", help="skip the Autobahn HTML/JSON reports")
    ap.add_argument("-v", "--verbose", action="store_true", help="print a line per case from the client")
    return ap.parse_args()


def selected_cases(include: list[str] | None, exclude: list[str]) -> list[str]:
    from kosoku.cases import CASES

    ids = list(CASES)
    if include:
        ids = [c for c in ids if any(fnmatch.fnmatchcase(c, g) for g in include)]
    return [c for c in ids if not any(fnmatch.fnmatchcase(c, g) for g in exclude)]


async def pump(stream: asyncio.StreamReader, log, echo: bool) -> None:
    while True:
        line = await stream.readline()
        if not line:
            return
        log.write(line)
        log.flush()
        if echo:
            sys.stdout.write("  client: " + line.decode(errors="replace"))
            sys.stdout.flush()


# `--quick` (what `make test` runs) leaves out the compression cases with
# the largest messages (sizes 16 KiB and up, about 240 s of the 300 s a full
# run takes on 2 cores); `make autobahn` runs all 517.
QUICK_EXCLUDE = [f"{g}.*.{n}" for g in (12, 13) for n in (8, 9, 10, 13, 14, 15, 16, 17, 18)]

# Cases whose server accepts only an offer with client_no_context_takeover
# (Chromium does not offer it; the client offers it for these cases only).
NO_CONTEXT_CASES = ["13.2.*", "13.5.*", "13.6.*"]


async def run_suite(args: argparse.Namespace, include, exclude, log_path: Path):
    """Returns (results, client_status, error) where results is a list of
    kosoku CaseResult (or None) and error a string when the run failed."""
    from kosoku import FailureError, run_fuzzingserver

    async with run_fuzzingserver(include, exclude, host="127.0.0.1", port=0) as server:
        url = f"ws://{server.address}:{server.port}"
        print(f"fuzzing server (kosoku {KOSOKU_VERSION}) on {url}")
        result_task = asyncio.ensure_future(server.get_result())

        cmd = [args.client, "-a", AGENT, "-t", str(args.case_timeout)]
        # runCase?case=N runs the Nth selected case.
        numbers = [str(i + 1) for i, c in enumerate(selected_cases(include, exclude))
                   if any(fnmatch.fnmatchcase(c, g) for g in NO_CONTEXT_CASES)]
        if numbers:
            cmd += ["-n", ",".join(numbers)]
        if not args.verbose:
            cmd.append("-q")
        cmd.append(url)
        print("client:", " ".join(cmd))
        sys.stdout.flush()
        deadline = time.monotonic() + args.timeout
        with open(log_path, "wb") as log:
            proc = await asyncio.create_subprocess_exec(
                *cmd, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            reader = asyncio.ensure_future(pump(proc.stdout, log, echo=True))
            error = None
            try:
                status = await asyncio.wait_for(proc.wait(), timeout=args.timeout)
            except asyncio.TimeoutError:
                proc.kill()
                status = await proc.wait()
                error = f"the client did not finish within {args.timeout:.0f} s (killed)"
            await asyncio.wait_for(reader, timeout=10)

        results = None
        try:
            # The server finishes once the client asked for updateReports.
            remaining = max(5.0, min(10.0, deadline - time.monotonic()))
            results = await asyncio.wait_for(result_task, timeout=remaining)
        except FailureError as failure:
            results = failure.results  # every case run, passed or not
        except asyncio.TimeoutError:
            result_task.cancel()
            error = error or "the fuzzing server never reported its results (did the client reach updateReports?)"
        if status < 0:
            error = f"the client was killed by signal {-status}" + (f"; {error}" if error else "")
        elif status not in (0, 1):
            error = f"the client failed with status {status}" + (f"; {error}" if error else "")
        return results, status, error


def load_expected(path: Path) -> dict[str, dict]:
    if not path.exists():
        return {}
    with open(path) as f:
        return json.load(f)


def field_matches(expected, actual: str) -> bool:
    """An expected field is one verdict, or a list of verdicts any of which
    is accepted (a case whose outcome is racy, see README.md)."""
    return actual in expected if isinstance(expected, list) else actual == expected


def entry_matches(expected: dict, actual: dict) -> bool:
    return all(field_matches(expected.get(k), actual[k]) for k in ("behavior", "behaviorClose"))


def is_racy(expected: dict) -> bool:
    return any(isinstance(expected.get(k), list) for k in ("behavior", "behaviorClose"))


def show(entry: dict) -> str:
    f = lambda v: "|".join(v) if isinstance(v, list) else str(v)  # noqa: E731
    return f"{f(entry.get('behavior'))} / {f(entry.get('behaviorClose'))}"


def write_expected(path: Path, verdicts: dict[str, dict]) -> None:
    # One case per line, in case order: readable diffs in review.
    lines = []
    for cid in sorted(verdicts, key=case_key):
        v = verdicts[cid]
        entry = json.dumps({"behavior": v["behavior"], "behaviorClose": v["behaviorClose"]})
        lines.append(f"  {json.dumps(cid)}: {entry}")
    with open(path, "w") as f:
        f.write("{\n" + ",\n".join(lines) + "\n}\n")


def main() -> int:
    args = parse_args()
    try:
        installed = metadata.version("kosoku")
    except metadata.PackageNotFoundError:
        print("kosoku is not installed in this interpreter: run conformance/setup.sh and use conformance/.venv/bin/python")
        return 2
    if installed != KOSOKU_VERSION:
        print(f"kosoku {installed} is installed but the expectations are for {KOSOKU_VERSION}: run conformance/setup.sh")
        return 2
    client = Path(args.client)
    if not os.access(client, os.X_OK):
        print(f"{client}: no client binary (make build/autobahn_client)")
        return 2

    exclude = DEFAULT_EXCLUDE + (args.exclude or []) + (QUICK_EXCLUDE if args.quick else [])
    include = args.include
    selection = selected_cases(include, exclude)
    partial = bool(include or args.exclude or args.quick)

    outdir = Path(args.outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    print(f"Autobahn client conformance: {len(selection)} cases (excluded: {' '.join(exclude)})")
    results, status, error = asyncio.run(run_suite(args, include, exclude, outdir / "client.log"))
    wall = time.monotonic() - started

    if results is None:
        print(f"ERROR: {error}. Client output: {outdir / 'client.log'}")
        return 2

    got: dict[str, dict] = {}
    for r in results:
        got[r.case_id] = {
            "behavior": r.behavior.value,
            "behaviorClose": r.behavior_close.value,
            "remoteCloseCode": r.remote_close_code,
            "durationMs": r.duration,
            "result": r.result,
            "resultClose": r.result_close,
        }
    with open(outdir / "results.json", "w") as f:
        ordered = {cid: got[cid] for cid in sorted(got, key=case_key)}
        json.dump(ordered, f, indent=2)
        f.write("\n")

    if not args.no_html:
        t0 = time.monotonic()
        reports = outdir / "reports"
        shutil.rmtree(reports, ignore_errors=True)
        try:
            from kosoku._report import write_reports  # the CLI's report writer

            write_reports(results, str(reports))
            print(f"reports: {reports / 'index.html'} ({time.monotonic() - t0:.1f} s)")
        except Exception as e:  # a report problem must not hide the verdicts
            print(f"warning: could not write the HTML reports: {e!r}")

    # Summary.
    print()
    print(f"{len(got)} cases in {wall:.1f} s (client status {status})")
    beh = collections.Counter(v["behavior"] for v in got.values())
    clo = collections.Counter(v["behaviorClose"] for v in got.values())
    order = lambda c: [k for k in BEHAVIORS if k in c] + sorted(k for k in c if k not in BEHAVIORS)  # noqa: E731
    print("behavior:      " + ", ".join(f"{k} {beh[k]}" for k in order(beh)))
    print("behaviorClose: " + ", ".join(f"{k} {clo[k]}" for k in order(clo)))
    groups: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    for cid, v in got.items():
        g = groups[cid.split(".")[0]]
        g[0] += 1
        g[1] += v["durationMs"] or 0
    print("time per group (server-measured): " + ", ".join(
        f"{g}.* {groups[g][1] / 1000:.1f} s/{groups[g][0]}" for g in sorted(groups, key=int)))
    not_ok = [c for c in sorted(got, key=case_key) if got[c]["behavior"] != "OK" or got[c]["behaviorClose"] != "OK"]
    for cid in not_ok:
        v = got[cid]
        print(f"  not OK: {cid}: {v['behavior']} / {v['behaviorClose']} - {v['result']} / {v['resultClose']}")

    missing = [c for c in selection if c not in got]
    unexpected_ids = [c for c in got if c not in selection]
    problems = []
    if missing:
        problems.append(f"{len(missing)} selected cases have no result: {' '.join(missing[:20])}")
    if unexpected_ids:
        problems.append(f"results for unselected cases: {' '.join(unexpected_ids[:20])}")
    if error:
        problems.append(error)
    if problems:
        for p in problems:
            print(f"ERROR: {p}")
        if args.update:
            print("expectations NOT updated: the run is incomplete")
        return 2
    if status != 0:
        print(f"note: the client exited {status} (a case timed out; see {outdir / 'client.log'})")

    expected_path = Path(args.expected)
    expected = load_expected(expected_path)

    def recorded(cid: str) -> dict:
        """What --update records for a case: the observed verdicts, except
        that a racy entry (a list of accepted verdicts) that the observation
        satisfies is kept as it is, unless --reset-racy."""
        old = expected.get(cid)
        if old is not None and is_racy(old) and entry_matches(old, got[cid]) and not args.reset_racy:
            return old
        return got[cid]

    if args.update:
        merged = dict(expected) if partial else {}
        merged.update({c: recorded(c) for c in selection})
        write_expected(expected_path, merged)
        changed = [c for c in selection if expected.get(c) is None or not entry_matches(expected[c], got[c])]
        print(f"\nwrote {expected_path} ({len(merged)} cases, {len(changed)} changed: {' '.join(changed[:30])})")
        return 0

    # Compare.
    diffs = []
    racy = []
    for cid in selection:
        exp = expected.get(cid)
        act = got[cid]
        if exp is None:
            diffs.append((cid, None, act))
        elif not entry_matches(exp, act):
            diffs.append((cid, exp, act))
        elif is_racy(exp):
            racy.append(f"{cid}={act['behavior']}/{act['behaviorClose']}")
    stale = [] if partial else [c for c in expected if c not in got]

    print()
    if racy:
        print(f"racy cases (any recorded verdict accepted), this run: {' '.join(racy)}")
    shown = expected_path.relative_to(ROOT) if expected_path.is_relative_to(ROOT) else expected_path
    if not diffs and not stale:
        print(f"PASS: all {len(selection)} verdicts match {shown}")
        return 0
    print(f"FAIL: {len(diffs) + len(stale)} differences from {shown}:")
    for cid, exp, act in diffs:
        now_ok = act["behavior"] == "OK" and act["behaviorClose"] == "OK"
        if exp is None:
            kind = "NEW"
        elif now_ok:
            kind = "IMPROVED"
        elif entry_matches(exp, {"behavior": "OK", "behaviorClose": "OK"}):
            kind = "REGRESSED"
        else:
            kind = "CHANGED"
        print(f"  {kind} {cid}: expected {show(exp) if exp else 'nothing (not in expected.json)'}, "
              f"got {act['behavior']} / {act['behaviorClose']}")
        print(f"      {act['result']} / {act['resultClose']} (remote close code {act['remoteCloseCode']})")
        print(f"      report: {outdir / 'reports' / ('wsnative_case_' + cid.replace('.', '_') + '.html')}")
    for cid in stale:
        print(f"  STALE {cid}: in expected.json but not run")
    print("If the new verdicts are right (an improvement), record them with `make autobahn-update`.")
    return 1


if __name__ == "__main__":
    sys.exit(main())
