"""docs/ml-test-score.md is true: every check it names exists, every score fits how its
checks run, every section total adds up, and a section under 7 says why.

The syntax of a check (``kind:target``) is defined in the document itself; this test is
its parser. It reads the repository only: no model, no network.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCORECARD = ROOT / "docs" / "ml-test-score.md"

#: The 28 tests of Breck et al. 2017, by section, with their exact titles.
RUBRIC: dict[str, tuple[str, ...]] = {
    "Data": (
        "Feature expectations are captured in a schema",
        "All features are beneficial",
        "No feature's cost is too much",
        "Features adhere to meta-level requirements",
        "The data pipeline has appropriate privacy controls",
        "New features can be added quickly",
        "All input feature code is tested",
    ),
    "Model": (
        "Every model specification undergoes a code review and is checked in to a repository",
        "Offline proxy metrics correlate with actual online impact metrics",
        "All hyperparameters have been tuned",
        "The impact of model staleness is known",
        "A simpler model is not better",
        "Model quality is sufficient on all important data slices",
        "The model has been tested for considerations of inclusion",
    ),
    "Infrastructure": (
        "Training is reproducible",
        "Model specification code is unit tested",
        "The full ML pipeline is integration tested",
        "Model quality is validated before attempting to serve it",
        "The model allows debugging by observing the step-by-step computation of training "
        "or inference on a single example",
        "Models are tested via a canary process before they enter production serving environments",
        "Models can be quickly and safely rolled back to a previous serving version",
    ),
    "Monitoring": (
        "Dependency changes result in notification",
        "Data invariants hold in training and serving inputs",
        "Training and serving features compute the same values",
        "Models are not too stale",
        "The model is numerically stable",
        "The model has not experienced a dramatic or slow-leak regressions in training "
        "speed, serving latency, throughput, or RAM usage",
        "The model has not experienced a regression in prediction quality on served data",
    ),
}
ROW_PREFIX = {"Data": "Data", "Model": "Model", "Infrastructure": "Infra", "Monitoring": "Monitor"}
KINDS = ("pytest", "gate", "monitor", "file")
AUTOMATED_KINDS = {"pytest", "gate", "monitor"}
AUTOMATED_RUNS = ("CI", "pipeline run", "monitor job")
SCORES = {"0": Fraction(0), "0.5": Fraction(1, 2), "1": Fraction(1)}
CHECK = re.compile(r"`([a-z]+):([^`]+)`")
TOTAL = re.compile(r"^\*\*Total: ([0-9.]+) / 7\*\*$")


@dataclass(frozen=True)
class Row:
    section: str
    ident: str
    title: str
    checks: tuple[tuple[str, str], ...]
    runs: str
    score: str


@dataclass(frozen=True)
class Section:
    name: str
    rows: tuple[Row, ...]
    total: str | None
    reason: str | None


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def parse(text: str) -> dict[str, Section]:
    sections: dict[str, Section] = {}
    current: str | None = None
    rows: list[Row] = []
    total: str | None = None
    reason: str | None = None

    def close() -> None:
        if current is not None:
            sections[current] = Section(current, tuple(rows), total, reason)

    for line in text.splitlines():
        heading = re.match(r"^## (\w+)\s*$", line)
        if heading:
            close()
            current = heading.group(1) if heading.group(1) in RUBRIC else None
            rows, total, reason = [], None, None
            continue
        if current is None:
            continue
        if line.startswith("| ") and not line.startswith("| ID") and "---" not in line:
            cells = _cells(line)
            assert len(cells) == 6, f"a {current} row needs 6 cells: {line!r}"
            ident, title, checks, runs, score, _notes = cells
            rows.append(Row(current, ident, title, tuple(CHECK.findall(checks)), runs, score))
        elif match := TOTAL.match(line.strip()):
            total = match.group(1)
        elif line.startswith("Reason:") and line[len("Reason:") :].strip():
            reason = line[len("Reason:") :].strip()
    close()
    return sections


SECTIONS = parse(SCORECARD.read_text(encoding="utf-8"))
ROWS = [row for section in SECTIONS.values() for row in section.rows]


# ----------------------------------------------------------------------------- resolving


def _pytest_exists(target: str) -> str | None:
    path, _, rest = target.partition("::")
    file = ROOT / path
    if not rest or not file.is_file() or not path.startswith("tests/"):
        return f"{path} does not exist (or is not a test file under tests/)"
    names = rest.split("::")
    scope: list[ast.stmt] = ast.parse(file.read_text(encoding="utf-8")).body
    for k, name in enumerate(names):
        last = k == len(names) - 1
        wanted = (ast.FunctionDef, ast.AsyncFunctionDef) if last else (ast.ClassDef,)
        found = next((n for n in scope if isinstance(n, wanted) and n.name == name), None)
        if found is None:
            return f"{path} defines no {'test function' if last else 'class'} {name}"
        scope = found.body
    if not names[-1].startswith("test"):
        return f"{names[-1]} is not a test function (pytest collects test_*)"
    return None


def _module_file(dotted: str) -> Path | None:
    base = ROOT.joinpath(*dotted.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _defined(body: list[ast.stmt]) -> dict[str, ast.AST]:
    """Names a module or class body defines (functions, classes, assignments, imports)."""
    names: dict[str, ast.AST] = {}
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names[node.name] = node
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names[node.target.id] = node
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    names[target.id] = node
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                names[alias.asname or alias.name] = node
    return names


def _dotted_exists(target: str, *, callable_only: bool) -> str | None:
    """Resolve ``package.module.Name[.attr]`` in the source (read, not imported: a test
    folder such as tests/retrain/ must not shadow the package, and nothing runs)."""
    parts = target.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        file = _module_file(".".join(parts[:cut]))
        if file is not None:
            break
    else:
        return f"no module of the repository in {target}"
    attrs = parts[cut:]
    scope = ast.parse(file.read_text(encoding="utf-8")).body
    node: ast.AST | None = None
    for k, name in enumerate(attrs):
        node = _defined(scope).get(name)
        if node is None:
            return f"{target}: {'.'.join(parts[: cut + k])} defines no {name}"
        if k < len(attrs) - 1:
            if not isinstance(node, ast.ClassDef):
                return f"{target}: {name} is not a class"
            scope = node.body
    if callable_only and not isinstance(
        node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.ImportFrom)
    ):
        return f"{target} is not a function"
    return None


def resolve(kind: str, target: str) -> str | None:
    """``None`` when the check exists, else why not."""
    if kind == "pytest":
        return _pytest_exists(target)
    if kind == "gate":
        if not target.startswith("retrain.pipeline.gate."):
            return f"{target}: a gate rule lives in retrain.pipeline.gate"
        return _dotted_exists(target, callable_only=True)
    if kind == "monitor":
        if not target.startswith("retrain.monitor."):
            return f"{target}: a monitor metric lives in retrain.monitor"
        return _dotted_exists(target, callable_only=False)
    if kind == "file":
        return None if (ROOT / target).is_file() else f"{target} does not exist"
    return f"unknown kind {kind!r} (one of {', '.join(KINDS)})"


# ----------------------------------------------------------------------------- tests


def test_every_section_has_the_rubrics_seven_tests_with_their_titles() -> None:
    assert list(SECTIONS) == list(RUBRIC)
    for name, titles in RUBRIC.items():
        rows = SECTIONS[name].rows
        assert [r.ident for r in rows] == [f"{ROW_PREFIX[name]} {k}" for k in range(1, 8)]
        assert [r.title for r in rows] == list(titles)


@pytest.mark.parametrize("row", ROWS, ids=[r.ident for r in ROWS])
def test_every_check_a_row_names_exists(row: Row) -> None:
    assert row.checks, f"{row.ident} names no check"
    missing = [f"{k}:{t}: {why}" for k, t in row.checks if (why := resolve(k, t)) is not None]
    assert not missing, f"{row.ident}: " + "; ".join(missing)


@pytest.mark.parametrize("row", ROWS, ids=[r.ident for r in ROWS])
def test_a_score_fits_how_the_checks_run(row: Row) -> None:
    assert row.score in SCORES, f"{row.ident}: score {row.score!r} is not 0, 0.5 or 1"
    if row.score == "1":
        assert any(run in row.runs for run in AUTOMATED_RUNS), (
            f"{row.ident} scores 1 but runs only {row.runs!r}"
        )
        assert any(kind in AUTOMATED_KINDS for kind, _ in row.checks), (
            f"{row.ident} scores 1 without a pytest, gate or monitor check"
        )


@pytest.mark.parametrize("name", list(RUBRIC))
def test_section_totals_add_up_and_a_short_one_says_why(name: str) -> None:
    section = SECTIONS[name]
    assert section.total is not None, f"{name} has no '**Total: X / 7**' line"
    total = sum(SCORES[r.score] for r in section.rows if r.score in SCORES)
    assert Fraction(section.total) == total, f"{name}: stated {section.total}, rows sum {total}"
    if total < 7:
        assert section.reason, f"{name} totals {float(total)} < 7 without a 'Reason:' line"


def test_the_parser_catches_what_it_must() -> None:
    """The checks above can fail: a made-up check, a bad score, a short section."""
    assert resolve("pytest", "tests/test_layers.py::test_no_such_test") is not None
    assert resolve("pytest", "tests/test_layers.py::test_import_linter_contracts_hold") is None
    assert resolve("gate", "retrain.pipeline.gate.no_such_rule") is not None
    assert resolve("gate", "retrain.pipeline.gate.check_slices") is None
    assert resolve("monitor", "retrain.monitor.no_such_module.metric") is not None
    assert resolve("file", "tests/benchmarks/no_such_benchmark.py") is not None
    assert resolve("magic", "anything") is not None
    short = parse(
        "## Data\n| ID | Test | Checks | Runs | Score | Notes |\n|---|---|---|---|---|---|\n"
        "| Data 1 | t | `file:README.md` | manual | 0.5 | |\n\n**Total: 0.5 / 7**\n"
    )
    assert short["Data"].total == "0.5" and short["Data"].reason is None
    assert short["Data"].rows[0].checks == (("file", "README.md"),)
