"""The import contract between Wanflow's packages, read from the source with ``ast``.

The layers exist so that each part can be used, tested and replaced without what sits above it:

- ``wanflow/``, the core (settings, manifest models, storage, the report, video I/O), imports none
  of the project's other packages: every stage, task, flow, tool and test builds on it, so it must
  not drag any of them in.
- ``generation/``, ``moderation/`` and ``postprocess/`` hold each stage's logic: they import the
  core (and another stage only where ``STAGE_IMPORTS`` says so), never Prefect, ``tasks`` or
  ``flows``, so that the logic runs and is tested without an orchestrator.
- ``tasks/`` wraps that logic in Prefect tasks; a task never reaches up into ``flows`` or the CLI.
- ``flows/`` composes the tasks; a flow never depends on the command line that may start it.
- ``cli/`` and ``service/`` (the web service) are the application layer: they may import
  everything below them, and ``flows``; the CLI may import the service (``wanflow serve``), and
  nothing else imports either of them.

Imports are counted wherever they are written (inside functions and ``TYPE_CHECKING`` blocks
too: a lazy import is still a dependency), relative ones resolved; packages must not import each
other in a cycle. Importing Prefect from the core is allowed by these rules (Prefect is no
project package): ``wanflow/results.py`` and ``wanflow/lifetime.py`` do.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import ROOT

PACKAGES = (
    "wanflow",
    "generation",
    "moderation",
    "postprocess",
    "tasks",
    "flows",
    "service",
    "cli",
)
STAGES = frozenset({"generation", "moderation", "postprocess"})
# (importer, imported): the stage imports another stage may make. Post-production retimes the
# shot plan that generation defines.
STAGE_IMPORTS = frozenset({("postprocess", "generation")})
MAX_LINES = 400


@dataclass(frozen=True)
class Import:
    path: str  # relative to the tree's root, with forward slashes
    line: int
    package: str  # the importing module's top-level package
    module: str  # what it imports, absolute

    @property
    def target(self) -> str:
        return self.module.split(".")[0]

    def where(self) -> str:
        return f"{self.path}:{self.line}: {self.package} imports {self.module}"


def modules(root: Path) -> Iterator[tuple[str, Path]]:
    """Every module of the checked packages under ``root``, with its package."""
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            if "__pycache__" not in path.parts:
                yield package, path


def imports(root: Path) -> list[Import]:
    found = []
    for package, path in modules(root):
        # The package a relative import starts from: the folder, for a module or an __init__.
        here = list(path.relative_to(root).parent.parts)
        rel = path.relative_to(root).as_posix()
        for node in ast.walk(ast.parse(path.read_bytes(), filename=rel)):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = here[: len(here) - node.level + 1]
                    names = [".".join([*base, *([node.module] if node.module else [])])]
                else:
                    names = [node.module or ""]
            else:
                continue
            found += [Import(rel, node.lineno, package, n) for n in names]
    return sorted(found, key=lambda imp: (imp.path, imp.line, imp.module))


def broken_rule(importer: str, imported: str, stage_imports: Iterable[tuple[str, str]]) -> str:
    """Which layer rule an import of ``imported`` from ``importer`` breaks ("" for none)."""
    if imported == importer:
        return ""
    if imported == "cli":
        return "nothing imports the CLI"
    if imported == "service" and importer != "cli":
        return "only the CLI imports the web service"
    if importer == "wanflow" and imported in PACKAGES:
        return "the core imports none of the project's other packages"
    if importer in STAGES:
        if imported == "prefect":
            return "a stage's logic never imports prefect"
        if imported in ("tasks", "flows"):
            return "a stage's logic imports only the core (and listed stages), not tasks or flows"
        if imported in STAGES and (importer, imported) not in set(stage_imports):
            return "a stage imports another stage only where STAGE_IMPORTS lists it"
    if importer == "tasks" and imported == "flows":
        return "tasks never import flows; only the CLI does"
    return ""


def check_layers(root: Path, stage_imports: Iterable[tuple[str, str]] = STAGE_IMPORTS) -> list[str]:
    """Every import under ``root`` that breaks the contract, as ``file:line: what: rule``."""
    stage_imports = set(stage_imports)
    found = imports(root)
    problems = []
    for imp in found:
        rule = broken_rule(imp.package, imp.target, stage_imports)
        if rule:
            problems.append(f"{imp.where()}: {rule}")
    edges: dict[str, set[str]] = {p: set() for p in PACKAGES}
    for imp in found:
        if imp.target in PACKAGES and imp.target != imp.package:
            edges[imp.package].add(imp.target)
    for members in _cycles(edges):
        cycle = ", ".join(sorted(members))
        for imp in found:
            if imp.package in members and imp.target in members and imp.target != imp.package:
                problems.append(f"{imp.where()}: packages import each other in a cycle ({cycle})")
    return problems


def _cycles(edges: dict[str, set[str]]) -> list[set[str]]:
    """The groups of packages that reach each other (strongly connected, more than one)."""

    def reach(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for nxt in edges.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    reachable = {p: reach(p) for p in edges}
    groups: list[set[str]] = []
    for p in edges:
        group = {p} | {q for q in reachable[p] if p in reachable[q]}
        if len(group) > 1 and group not in groups:
            groups.append(group)
    return groups


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for package in PACKAGES:
        (root / package).mkdir(exist_ok=True)
        (root / package / "__init__.py").touch()
    return root


# --- the repository ------------------------------------------------------------------------------
def test_the_packages_keep_their_layers():
    problems = check_layers(ROOT)
    assert not problems, "\n".join(problems)


def test_no_module_is_over_400_lines():
    over = []
    for _, path in modules(ROOT):
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_LINES:
            over.append(f"{path.relative_to(ROOT).as_posix()}: {lines} lines")
    assert not over, f"modules over {MAX_LINES} lines:\n" + "\n".join(over)


def test_every_package_is_checked():
    """A package added later without a place in the layers would escape the contract."""
    top = {p.parent.name for p in ROOT.glob("*/__init__.py")}
    assert top - {"tests", "benchmarks"} <= set(PACKAGES), sorted(top - set(PACKAGES))


# --- the checker itself --------------------------------------------------------------------------
def test_a_violation_added_later_is_reported_with_its_file_line_and_rule(tmp_path):
    root = _tree(
        tmp_path,
        {
            "generation/x.py": "from . import y\nfrom wanflow import settings\n\n\n"
            "def f():\n    import prefect\n",
            "generation/y.py": "",
            "generation/deep/z.py": "from .. import y\nfrom ..x import f\n",
            "wanflow/core.py": "import json\n\nfrom flows import produce\n",
            "tasks/t.py": "import prefect\n\nfrom generation import x\nfrom moderation import m\n",
            "flows/produce.py": "import prefect\n",  # no flows -> tasks: that would close a cycle
            # The CLI may import anything below it: tasks (wanflow review does), flows.
            "cli/review.py": "from flows import produce\nfrom tasks.t import review_clip_file\n",
        },
    )
    assert check_layers(root) == [
        "generation/x.py:6: generation imports prefect: a stage's logic never imports prefect",
        "wanflow/core.py:3: wanflow imports flows: the core imports none of the project's "
        "other packages",
    ]


def test_a_reach_upwards_is_reported_for_each_layer(tmp_path):
    root = _tree(
        tmp_path,
        {
            "moderation/m.py": "def f():\n    from tasks import t\n",
            "postprocess/p.py": "from moderation.m import f\n",
            "tasks/t.py": "from flows.run import g\n",
            "flows/run.py": "import cli.main\n",
        },
    )
    assert check_layers(root) == [
        "flows/run.py:1: flows imports cli.main: nothing imports the CLI",
        "moderation/m.py:2: moderation imports tasks: a stage's logic imports only the core "
        "(and listed stages), not tasks or flows",
        "postprocess/p.py:1: postprocess imports moderation.m: a stage imports another stage "
        "only where STAGE_IMPORTS lists it",
        "tasks/t.py:1: tasks imports flows.run: tasks never import flows; only the CLI does",
    ]


def test_a_cycle_between_packages_is_reported(tmp_path):
    root = _tree(
        tmp_path,
        {
            "generation/g.py": "def f():\n    from postprocess.p import h\n",
            "postprocess/p.py": "from generation.g import f\n",
        },
    )
    both_ways = {("postprocess", "generation"), ("generation", "postprocess")}
    cycle = "packages import each other in a cycle (generation, postprocess)"
    assert check_layers(root, stage_imports=both_ways) == [
        f"generation/g.py:2: generation imports postprocess.p: {cycle}",
        f"postprocess/p.py:1: postprocess imports generation.g: {cycle}",
    ]


def test_the_application_layer_may_import_flows_and_the_cli_the_service(tmp_path):
    root = _tree(
        tmp_path,
        {
            "service/app.py": "from flows import produce\nfrom wanflow import jobs\n",
            "service/runner.py": "def f():\n    from flows.produce import produce_manifest\n",
            "cli/serve.py": "from service.app import create_app\nfrom flows import produce\n",
            "flows/produce.py": "from tasks import t\n",
        },
    )
    assert check_layers(root) == []


def test_nothing_but_the_cli_imports_the_web_service(tmp_path):
    root = _tree(
        tmp_path,
        {
            "service/runner.py": "",
            "service/bad.py": "from cli import serve\n",
            "flows/produce.py": "def f():\n    from service import runner\n",
            "tasks/t.py": "import service.runner\n",
            "wanflow/client.py": "from service.runner import Runner\n",
        },
    )
    assert check_layers(root) == [
        "flows/produce.py:2: flows imports service: only the CLI imports the web service",
        "service/bad.py:1: service imports cli: nothing imports the CLI",
        "tasks/t.py:1: tasks imports service.runner: only the CLI imports the web service",
        "wanflow/client.py:1: wanflow imports service.runner: only the CLI imports the web service",
    ]
