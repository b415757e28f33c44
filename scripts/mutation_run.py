"""Mutation testing of the core modules with mutmut 3, and MUTATION.md.

For each module of ``[tool.mutation.modules]`` in pyproject.toml: refresh a
scratch copy of the checkout in ``.mutation/<module>/`` (tracked and
untracked files that git does not ignore), write its pyproject.toml with the
checkout's ``[tool.mutmut]`` plus the module's ``only_mutate`` and test
selection, run ``mutmut run`` there (mutmut keeps its results in
``mutants/``, so a rerun only tests mutants of functions that changed), then
read each mutant's exit status from mutmut's ``mutants/<file>.meta``.

``MUTATION.md`` gets one row per module (score = killed / all mutants that
were run, a timeout counting as killed, as mutmut's own badge does) and every
survivor with its diff, marked when ``[tool.mutation.equivalent]`` says why it
is equivalent. Modules not run this time keep their previous section.

A module too slow to finish in one sitting can be run in parts: mutmut keeps
each mutant's result as soon as it has it, so a run that is stopped (Ctrl-C)
resumes where it stopped (a run started in the background ignores Ctrl-C's
SIGINT: stop its ``mutmut run`` with SIGTERM, the results so far are kept),
and ``--only 'jobs.plan.*'`` tests again the mutants whose names match (mutmut
reruns the mutants it is given by name, even those it has a result for).
Mutants not run yet are counted apart ("not run"), never in the score.

The mutations issue 17 names (``[[tool.mutation.named]]``: text replacements
made by hand, some outside the modules mutmut mutates) are checked by
``scripts/mutation named``: the tests given must pass on the checkout and fail
with the replacements made in a scratch copy (``.mutation/named/``).

Usage: ``scripts/mutation [--max-children N] [--only GLOB]... [--report] [MODULE... | named]``
(all modules, then the named mutations, when none is given).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
import typing as t
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRATCH = ROOT / ".mutation"
REPORT = ROOT / "MUTATION.md"
MUTMUT = Path(sys.executable).parent / "mutmut"
#: Target of issue 17: share of the mutants of each core module that the tests kill.
TARGET = 0.85
#: mutmut's exit statuses of a mutant's test run (mutmut.stats.status_by_exit_code).
STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests", 34: "skipped", 36: "timeout"}
STATUS.update({-24: "timeout", 24: "timeout", 152: "timeout", 255: "timeout", 37: "type check"})
_COUNTS = re.compile(
    r"\*\*(?P<score>[\d.]+%)\*\* killed; \*\*(?P<real>[\d.]+%)\*\*.*?(?P<k>\d+) killed, (?P<t>\d+) timed out, "
    r"(?P<s>\d+) survived \((?P<e>\d+) equivalent\), (?P<n>\d+) without a test, \d+ other, of (?P<all>\d+)"
    r"(?:; \*\*(?P<nr>\d+) not run yet\*\*)?",
    re.S,
)
_SECTION = re.compile(r"^## (?P<name>\S+)\n.*?(?=^## |\Z)", re.M | re.S)


@dataclasses.dataclass
class Module:
    """One entry of ``[tool.mutation.modules]``."""

    name: str
    mutate: list[str]
    tests: list[str]
    parallel: bool
    #: Test ids left out of the mutation runs (slow end-to-end ones that other tests duplicate).
    deselect: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Named:
    """One entry of ``[[tool.mutation.named]]``: a mutation made by hand."""

    what: str
    #: (file, text, replacement): the text must occur exactly once in the file.
    replace: list[tuple[str, str, str]]
    tests: list[str]


@dataclasses.dataclass
class Outcome:
    """Statuses of one module's mutants, by mutmut's mutant name."""

    module: Module
    status: dict[str, str]
    seconds: float
    #: The mutated file of each mutant, relative to the checkout.
    paths: dict[str, str] = dataclasses.field(default_factory=dict)

    def count(self, *statuses: str) -> int:
        return sum(1 for s in self.status.values() if s in statuses)

    @property
    def tested(self) -> int:
        return len(self.status) - self.count("skipped", "type check", "not checked")

    @property
    def score(self) -> float:
        return self.count("killed", "timeout") / self.tested if self.tested else 0.0


def load_named() -> list[Named]:
    """The hand-made mutations of ``[[tool.mutation.named]]``."""
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]
    return [
        Named(str(spec["what"]), [(str(f), str(a), str(b)) for f, a, b in spec["replace"]], list(spec["tests"]))
        for spec in tool["mutation"].get("named", [])
    ]


def load_config() -> tuple[dict[str, object], dict[str, Module], dict[str, str]]:
    """(``[tool.mutmut]``, the modules, the equivalent mutants with their reason)."""
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]
    modules = {
        name: Module(
            name,
            list(spec["mutate"]),
            list(spec["tests"]),
            bool(spec.get("parallel", False)),
            list(spec.get("deselect", [])),
        )
        for name, spec in tool["mutation"]["modules"].items()
    }
    return dict(tool["mutmut"]), modules, dict(tool["mutation"].get("equivalent", {}))


def _toml_value(value: object) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(value)  # strings, numbers and booleans: JSON's spelling is TOML's


def prepare(module: Module, mutmut_config: dict[str, object]) -> Path:
    """The module's scratch copy, brought up to date with the checkout."""
    where = SCRATCH / module.name
    sync_copy(where)
    config = {**mutmut_config, "only_mutate": module.mutate, "pytest_add_cli_args_test_selection": module.tests}
    if module.deselect:
        pytest_args = t.cast("list[str]", mutmut_config.get("pytest_add_cli_args", []))
        config["pytest_add_cli_args"] = [*pytest_args, *(a for d in module.deselect for a in ("--deselect", d))]
    lines = ["[tool.mutmut]", *(f"{key} = {_toml_value(value)}" for key, value in config.items())]
    pyproject = where / "pyproject.toml"
    text = (ROOT / "pyproject.toml").read_text().split("\n[tool.mutmut]")[0].rstrip() + "\n\n" + "\n".join(lines) + "\n"
    if not pyproject.exists() or pyproject.read_text() != text:
        pyproject.write_text(text)
    # Tests that start the service (flask, gunicorn) find it at <checkout>/.venv.
    for venv in (where / ".venv", where / "mutants" / ".venv"):
        if not venv.exists():
            venv.parent.mkdir(parents=True, exist_ok=True)
            venv.symlink_to(ROOT / ".venv")
    return where


def sync_copy(where: Path) -> None:
    """Make ``where`` a copy of the checkout's files (tracked and untracked ones
    that git does not ignore), copying only those that changed."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    wanted = {name for name in listed.split("\0") if name and (ROOT / name).is_file()}
    for name in wanted:
        source, target = ROOT / name, where / name
        stat = source.stat()
        same_size = target.exists() and target.stat().st_size == stat.st_size
        if same_size and (target.stat().st_mtime_ns == stat.st_mtime_ns or target.read_bytes() == source.read_bytes()):
            continue  # the same bytes (a checkout that only touched the file keeps mutmut's copy)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
        # mutmut copies a source file into mutants/ only when it is not there yet
        # (and remakes a mutated one whose source is newer): an unmutated module
        # that changed must be copied again, or the tests would run its old code.
        stale = where / "mutants" / name
        if stale.is_file() and not name.startswith("tests/"):
            stale.unlink()
    for path in sorted(where.rglob("*"), reverse=True):  # files the checkout no longer has
        relative = path.relative_to(where).as_posix()
        if relative.startswith(("mutants/", ".venv")) or relative in ("mutants", "pyproject.toml"):
            continue
        if path.is_file() and relative not in wanted:
            path.unlink()


def forget_survivors(where: Path, only: list[str]) -> None:
    """Make mutmut test again every mutant it did not kill last time. It reuses
    a result while the mutated function's source is unchanged, and cannot see
    that a test was added since: a survivor must face the new tests."""
    for meta in (where / "mutants").rglob("*.py.meta"):
        data = json.loads(meta.read_text())
        codes = data["exit_code_by_key"]
        stale = [
            name
            for name, code in codes.items()
            if STATUS.get(code) not in ("killed", "timeout")
            and (not only or any(fnmatch.fnmatch(name, glob) for glob in only))  # --only: the others keep theirs
        ]
        if stale:
            codes.update(dict.fromkeys(stale))
            meta.write_text(json.dumps(data))


def forget_stale_coverage(where: Path, module: Module) -> None:
    """Make mutmut trace again which tests call which function when one of the
    module's test files changed since it last did: it traces new test names
    only, so a test whose body changed would keep its old coverage and never
    face the mutants it now reaches."""
    stats = where / "mutants" / "mutmut-stats.json"
    if not stats.exists():
        return
    traced = stats.stat().st_mtime_ns
    tests = [where / name for name in (*module.tests, "tests/conftest.py")]
    if any(path.exists() and path.stat().st_mtime_ns > traced for path in tests):
        stats.unlink()


def run(module: Module, mutmut_config: dict[str, object], max_children: int, only: list[str], report: bool) -> Outcome:
    where = prepare(module, mutmut_config)
    started = time.monotonic()
    if not report:
        forget_survivors(where, only)
        forget_stale_coverage(where, module)
        children = str(min(max_children, os.cpu_count() or 1)) if module.parallel else "1"
        log = where / "mutmut.log"
        command = [str(MUTMUT), "run", "--max-children", children, *only]
        print(f"mutation: {module.name}: {' '.join(command[1:])} (log: {log})", file=sys.stderr)
        with log.open("wb") as out:
            done = subprocess.run(command, cwd=where, stdout=out, stderr=out)
        if done.returncode != 0:
            tail = log.read_bytes()[-3000:].decode(errors="replace")
            raise SystemExit(f"mutation: mutmut failed on {module.name} (exit {done.returncode}):\n{tail}")
    status: dict[str, str] = {}
    paths: dict[str, str] = {}
    for meta in sorted((where / "mutants").rglob("*.py.meta")):
        path = meta.relative_to(where / "mutants").as_posix().removesuffix(".meta")
        for name, code in json.loads(meta.read_text())["exit_code_by_key"].items():
            status[name] = STATUS.get(code, "suspicious") if code is not None else "not checked"
            paths[name] = path
    return Outcome(module, status, time.monotonic() - started, paths)


def _pytest(where: Path, tests: list[str]) -> int:
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-x", *tests]
    return subprocess.run(command, cwd=where, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode


def check_named(named: list[Named]) -> str:
    """Make each hand-made mutation in a scratch copy and run its tests; the
    ``named`` part of MUTATION.md. Killed: the tests pass on the checkout and
    fail (pytest's exit status 1) with the mutation."""
    where = SCRATCH / "named"
    sync_copy(where)
    started = time.monotonic()
    rows = ["| mutation | tests | result |", "|---|---|---|"]
    killed = 0
    for n in named:
        files = {name: (where / name).read_text() for name, _, _ in n.replace}
        mutated = dict(files)
        for name, text, replacement in n.replace:
            if mutated[name].count(text) != 1:
                raise SystemExit(f"mutation: named mutation {n.what!r}: {text!r} is not exactly once in {name}")
            mutated[name] = mutated[name].replace(text, replacement)
        clean = _pytest(where, n.tests)
        try:
            for name, text in mutated.items():
                (where / name).write_text(text)
            status = _pytest(where, n.tests)
        finally:
            for name, text in files.items():
                (where / name).write_text(text)
        result = (
            f"tests fail without the mutation (exit {clean})"
            if clean != 0
            else "**killed**"
            if status == 1
            else f"**survived** (exit {status})"
        )
        killed += result == "**killed**"
        tests = ", ".join(f"`{test}`" for test in n.tests)
        rows.append(f"| {n.what} | {tests} | {result} |")
        print(f"mutation: named: {n.what}: {result}", file=sys.stderr)
    return (
        "\n".join(
            [
                "## named",
                "",
                "The mutations issue 17 names, made by hand (`[[tool.mutation.named]]` in `pyproject.toml`); "
                f"run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC in {(time.monotonic() - started) / 60:.1f} min: "
                f"**{killed} of {len(named)} killed**.",
                "",
                *rows,
            ]
        )
        + "\n"
    )


def diff(module: Module, mutant: str, path: str) -> str:
    """The lines the mutant changes, as ``mutmut show`` gives them (``-`` original,
    ``+`` mutant); in this process, as one ``mutmut show`` each costs seconds."""
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    here = Path.cwd()
    os.chdir(SCRATCH / module.name)  # mutmut reads mutants/ relative to the working directory
    try:
        shown = get_diff_for_mutant(mutant, path=path)
    finally:
        os.chdir(here)
    return "\n".join(line for line in shown.splitlines() if line[:1] in "+-" and not line.startswith(("---", "+++")))


def section(outcome: Outcome, equivalent: dict[str, str]) -> str:
    """The module's part of MUTATION.md: its counts, then every survivor."""
    o = outcome
    same = sum(1 for n, s in o.status.items() if s == "survived" and n in equivalent)
    real = o.count("killed", "timeout") / (o.tested - same) if o.tested > same else 0.0
    verdict = "meets" if real >= TARGET else "below"
    target = f"{TARGET:.0%} target" + (" on the mutants run so far" if o.count("not checked") else "")
    lines = [
        f"## {o.module.name}",
        "",
        f"Mutated: {', '.join(f'`{m}`' for m in o.module.mutate)}; "
        f"tests: {', '.join(f'`{t}`' for t in o.module.tests)}.",
        f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC in {o.seconds / 60:.1f} min: "
        f"**{o.score:.1%}** killed; **{real:.1%}** of the non-equivalent ({verdict} the {target}); "
        f"{o.count('killed')} killed, {o.count('timeout')} timed out, {o.count('survived')} survived "
        f"({same} equivalent), {o.count('no tests')} without a test, "
        f"{o.count('suspicious')} other, of {len(o.status)}"
        + (f"; **{o.count('not checked')} not run yet** (a partial run)." if o.count("not checked") else "."),
        "",
    ]
    survivors = [n for n, s in o.status.items() if s in ("survived", "no tests", "suspicious")]
    if survivors:
        lines += ["Survivors (`mutmut show NAME` in `.mutation/" + o.module.name + "/` gives the diff again):", ""]
    for name in survivors:
        why = equivalent.get(name)
        mark = f" -- equivalent: {why}" if why else ""
        lines += [f"- `{name}` ({o.status[name]}){mark}", "", "  ```diff"]
        lines += ["  " + line for line in diff(o.module, name, o.paths[name]).splitlines()] + ["  ```", ""]
    return "\n".join(lines).rstrip() + "\n"


def table(sections: dict[str, str], modules: dict[str, Module]) -> str:
    rows = [
        "| module | killed | killed of the non-equivalent | killed | not killed (equivalent) | mutants |",
        "|---|---|---|---|---|---|",
    ]
    for name in modules:
        text = sections.get(name)
        match = _COUNTS.search(text or "")
        if match is None:
            rows.append(f"| {name} | not run yet: `scripts/mutation {name}` | | | | |")
            continue
        killed = int(match["k"]) + int(match["t"])
        not_run = int(match["nr"] or 0)
        survived = int(match["all"]) - killed - not_run
        mutants = f"{match['all']} ({not_run} not run yet)" if not_run else match["all"]
        row = f"| {name} | {match['score']} | {match['real']} | {killed} | {survived} ({match['e']}) | {mutants} |"
        rows.append(row)
    return "\n".join(rows)


def write_report(new: dict[str, str], modules: dict[str, Module]) -> None:
    previous = REPORT.read_text() if REPORT.exists() else ""
    old = {m["name"]: m.group(0).rstrip() + "\n" for m in _SECTION.finditer(previous)}
    # "notes" is written by hand (how the runs went) and kept as it is.
    sections = {name: new.get(name) or old.get(name, "") for name in (*modules, "named", "notes")}
    head = [
        "# Mutation testing",
        "",
        "Written by `scripts/mutation` (mutmut 3; configuration in `pyproject.toml`, `[tool.mutmut]` and",
        "`[tool.mutation]`). Score: killed (a timeout counts as killed) / mutants run; the target,",
        f"{TARGET:.0%} per module, is on the mutants not listed as equivalent (`[tool.mutation.equivalent]`).",
        "",
        table(sections, modules),
        "",
        "The mutations issue 17 names: see [named](#named); how the runs went: [notes](#notes).",
        "",
    ]
    REPORT.write_text("\n".join(head) + "\n" + "\n".join(s for s in sections.values() if s))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Mutation testing of the core modules (mutmut 3) into MUTATION.md.")
    parser.add_argument(
        "modules", nargs="*", help="modules of [tool.mutation.modules], or 'named' (default: all, then 'named')"
    )
    parser.add_argument(
        "--max-children", type=int, default=2, help="mutants tested at once where the module allows it (default 2)"
    )
    parser.add_argument("--only", action="append", default=[], help="test only the mutants matching this glob")
    parser.add_argument("--report", action="store_true", help="rewrite MUTATION.md from the last results, run nothing")
    args = parser.parse_args(argv)
    mutmut_config, modules, equivalent = load_config()
    unknown = [m for m in args.modules if m not in modules and m != "named"]
    if unknown:
        print(f"mutation: unknown module(s) {', '.join(unknown)}; known: {', '.join(modules)}", file=sys.stderr)
        return 2
    new: dict[str, str] = {}
    for name in args.modules or [*modules, "named"]:
        if name == "named":
            if not args.report:
                new["named"] = check_named(load_named())
                write_report(new, modules)
            continue
        outcome = run(modules[name], mutmut_config, max(1, args.max_children), args.only, args.report)
        new[name] = section(outcome, equivalent)
        write_report(new, modules)  # after each module: a long run keeps what it finished
        print(f"mutation: {name}: {outcome.score:.1%} killed of {outcome.tested}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
