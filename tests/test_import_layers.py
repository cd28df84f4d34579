"""Import layers of ``ml/``, read from the source with ``ast`` (nothing under ``ml`` is imported).

Every import counts: at module level, inside functions (lazy imports) and under ``if TYPE_CHECKING``, because each
is a dependency someone has to follow when reading or moving code. ``from ml.pkg import name`` is an import of
the submodule ``ml.pkg.name`` when ``ml/pkg/name.py`` or ``ml/pkg/name/`` exists, else of ``ml.pkg`` (a package's
``__init__.py`` is the module ``ml.pkg``). The package a submodule lives in is NOT counted as imported by it
(Python runs ``ml/pkg/__init__.py`` first, but counting that would make every package that re-exports from its
submodules a cycle); so ``ml/pkg/x.py`` must import ``ml.pkg.y``, not ``ml.pkg``, to get a name defined in y.

The rules: no import cycle anywhere in ``ml/``; the steps (``ml.steps``, one entry point per DAG task) neither
import each other nor are imported by the library, except by the engine that replays them; ``ml/`` never imports
Airflow; only the registry (models, artifacts and the training run's log) talks to MLflow; and the stage packages
depend on each other in one direction (no package imports a package that imports it back), so the README's table
of what each package may import stays true.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ML = REPO / "ml"

STEPS = "ml.steps"
# ml.simulation.replay runs batches through the steps in the order and with the inputs the DAGs give them (the
# demo and the simulations are the DAGs without Airflow), so it is the one library module that may call them.
STEPS_ENGINES = frozenset({"ml.simulation.replay"})
# MLflow is the registry's storage and the training run's log (ml.registry.runs); everything else goes through
# ml.registry, so the tracking URI, run handling and artifact layout live in one place and the rest of ml/ runs
# without MLflow.
MLFLOW_PACKAGES = ("ml.registry",)
# ...and the pyfunc entry point that MLflow itself runs when it loads a model version (models from code).
MLFLOW_MODULES: frozenset[str] = frozenset({"ml.serving.ct_pyfunc"})


@dataclass(frozen=True)
class Import:
    """One imported name: ``importer`` (a module of ml/) imports ``target`` at ``path``:``line``."""

    importer: str
    target: str
    path: Path
    line: int

    def where(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line} imports {self.target}"


# ---------------------------------------------------------------------------------------------------------------
# Reading ml/


def module_name(path: Path, root: Path = REPO) -> str:
    """``ml/drift/stats.py`` -> ``ml.drift.stats``; ``ml/drift/__init__.py`` -> ``ml.drift``."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def resolve_from(package: str, name: str, root: Path = REPO) -> str:
    """What ``from package import name`` imports: the submodule ``package.name`` if there is one, else ``package``."""
    folder = root.joinpath(*package.split("."))
    if (folder / f"{name}.py").is_file() or (folder / name).is_dir():
        return f"{package}.{name}"
    return package


def _absolute_module(node: ast.ImportFrom, importer: str, is_package: bool) -> str:
    """The module a ``from`` import names, with relative imports (``from . import x``) made absolute."""
    if not node.level:
        return node.module or ""
    base = importer.split(".")
    drop = node.level - 1 if is_package else node.level
    base = base[: len(base) - drop]
    return ".".join([*base, node.module] if node.module else base)


def _from_targets(node: ast.ImportFrom, importer: str, is_package: bool, root: Path) -> list[str]:
    module = _absolute_module(node, importer, is_package)
    if module != "ml" and not module.startswith("ml."):
        return [module]
    return list(dict.fromkeys(resolve_from(module, alias.name, root) for alias in node.names))


def _dynamic_target(node: ast.Call) -> str | None:
    """``importlib.import_module("name")`` or ``import_module("name")`` with a literal name."""
    func = node.func
    called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    if called != "import_module" or not node.args:
        return None
    first = node.args[0]
    return first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) else None


def _targets(node: ast.AST, importer: str, is_package: bool, root: Path) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        return _from_targets(node, importer, is_package, root)
    if isinstance(node, ast.Call):
        target = _dynamic_target(node)
        return [target] if target else []
    return []


def imports_of(path: Path, root: Path = REPO) -> list[Import]:
    """Every import in one file, module level or not, with ``ml.*`` targets resolved to modules."""
    importer = module_name(path, root)
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [
        Import(importer, target, path, node.lineno)
        for node in ast.walk(tree)
        for target in _targets(node, importer, is_package, root)
    ]


@functools.cache
def ml_imports() -> tuple[Import, ...]:
    """All imports of every module under ml/, in file order."""
    return tuple(found for path in sorted(ML.rglob("*.py")) for found in imports_of(path))


def in_package(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def import_graph(imports: Iterable[Import]) -> dict[str, set[str]]:
    """Module -> the ``ml`` modules it imports (every module of ml/ is a key, importing something or not)."""
    graph: dict[str, set[str]] = {module_name(path): set() for path in ML.rglob("*.py")}
    for found in imports:
        if in_package(found.target, "ml"):
            graph[found.importer].add(found.target)
    return graph


# ---------------------------------------------------------------------------------------------------------------
# Cycles: Tarjan's strongly connected components, iterative (no recursion limit on long import chains)


class _Tarjan:
    def __init__(self, graph: Mapping[str, Iterable[str]]):
        self.graph = graph
        self.index: dict[str, int] = {}
        self.low: dict[str, int] = {}
        self.stack: list[str] = []
        self.on_stack: set[str] = set()
        self.components: list[list[str]] = []

    def run(self) -> list[list[str]]:
        for node in sorted(self.graph):
            if node not in self.index:
                self._visit(node)
        return self.components

    def _enter(self, node: str) -> Iterator[str]:
        self.index[node] = self.low[node] = len(self.index)
        self.stack.append(node)
        self.on_stack.add(node)
        return iter(sorted(self.graph.get(node, ())))

    def _visit(self, root: str) -> None:
        work = [(root, self._enter(root))]
        while work:
            node, neighbours = work[-1]
            child = self._next_unvisited(node, neighbours)
            if child is not None:
                work.append((child, self._enter(child)))
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                self.low[parent] = min(self.low[parent], self.low[node])
            if self.low[node] == self.index[node]:
                self._pop_component(node)

    def _next_unvisited(self, node: str, neighbours: Iterator[str]) -> str | None:
        for neighbour in neighbours:
            if neighbour not in self.index:
                return neighbour
            if neighbour in self.on_stack:
                self.low[node] = min(self.low[node], self.index[neighbour])
        return None

    def _pop_component(self, node: str) -> None:
        component = []
        member = None
        while member != node:
            member = self.stack.pop()
            self.on_stack.discard(member)
            component.append(member)
        self.components.append(sorted(component))


def strongly_connected_components(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The graph's strongly connected components, each sorted (nodes that only appear as targets included)."""
    return _Tarjan(graph).run()


def import_cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Groups of modules that import each other (directly or through others), and modules that import themselves."""
    cycles = [c for c in strongly_connected_components(graph) if len(c) > 1 or c[0] in graph.get(c[0], ())]
    return sorted(cycles)


# ---------------------------------------------------------------------------------------------------------------
# Reports


def _cycle_report(cycle: list[str], imports: Iterable[Import]) -> str:
    members = set(cycle)
    edges = [f"      {i.where()}" for i in imports if i.importer in members and i.target in members]
    return "\n".join([f"  - {', '.join(cycle)}:", *edges])


def _offences(title: str, offending: list[Import], fix: str) -> str:
    lines = "\n".join(f"  - {i.where()}" for i in offending)
    return f"{title}:\n{lines}\nFix: {fix}"


def _mlflow_allowed(module: str) -> bool:
    return module in MLFLOW_MODULES or any(in_package(module, p) for p in MLFLOW_PACKAGES)


# ---------------------------------------------------------------------------------------------------------------
# The checker checks


def test_cycle_finder_finds_a_cycle_and_only_a_cycle() -> None:
    with_cycle = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    acyclic = {"a": {"b", "c"}, "b": {"c"}, "c": set(), "d": {"a", "c"}}
    assert import_cycles(with_cycle) == [["a", "b", "c"], ["e"]]
    assert import_cycles(acyclic) == []
    assert sorted(strongly_connected_components(acyclic)) == [["a"], ["b"], ["c"], ["d"]]


def test_from_imports_resolve_to_the_submodule_when_there_is_one(tmp_path: Path) -> None:
    package = tmp_path / "ml" / "pkg"
    (package / "sub").mkdir(parents=True)
    for name in ("__init__.py", "mod.py", "user.py", "sub/__init__.py"):
        (package / name).touch()
    (package / "user.py").write_text("from ml.pkg import mod, sub, name\n\ndef f():\n    import airflow.models\n")
    found = [(i.importer, i.target) for i in imports_of(package / "user.py", root=tmp_path)]
    assert found == [
        ("ml.pkg.user", "ml.pkg.mod"),
        ("ml.pkg.user", "ml.pkg.sub"),
        ("ml.pkg.user", "ml.pkg"),
        ("ml.pkg.user", "airflow.models"),
    ]
    assert module_name(package / "__init__.py", root=tmp_path) == "ml.pkg"


# ---------------------------------------------------------------------------------------------------------------
# The rules


def test_ml_has_no_import_cycle() -> None:
    imports = ml_imports()
    cycles = import_cycles(import_graph(imports))
    assert not cycles, (
        "import cycles in ml/ (these modules import each other, directly or through others):\n"
        + "\n".join(_cycle_report(c, imports) for c in cycles)
        + "\nFix: move what they share into a lower module that imports none of them, or import the submodule that "
        "defines a name instead of its package; a lazy import inside a function is still part of the cycle."
    )


def test_steps_do_not_import_each_other() -> None:
    offending = [
        i
        for i in ml_imports()
        if in_package(i.importer, STEPS) and in_package(i.target, STEPS) and i.target != i.importer
    ]
    assert not offending, _offences(
        "ml.steps modules import other steps (each is one DAG task's entry point)",
        offending,
        "move the shared code into the library package of its stage (ml.data, ml.drift, ml.training, ...) and "
        "import it from there in both steps.",
    )


def test_only_the_replay_engine_imports_the_steps() -> None:
    library = [i for i in ml_imports() if not in_package(i.importer, STEPS) and i.importer not in STEPS_ENGINES]
    offending = [i for i in library if in_package(i.target, STEPS)]
    assert not offending, _offences(
        f"library modules import ml.steps (allowed only in {sorted(STEPS_ENGINES)})",
        offending,
        "the steps sit on top of the library: move the code you need out of the step into the library package of "
        "its stage and import it from there (the step then calls it too).",
    )


def test_ml_never_imports_airflow() -> None:
    offending = [i for i in ml_imports() if in_package(i.target, "airflow")]
    assert not offending, _offences(
        "ml/ imports Airflow",
        offending,
        "ml/ must run without Airflow (notebook, test, CLI): take what the task context gives as arguments and "
        "keep Airflow code in dags/ or plugins/.",
    )


def test_only_the_registry_imports_mlflow() -> None:
    offending = [i for i in ml_imports() if in_package(i.target, "mlflow") and not _mlflow_allowed(i.importer)]
    allowed = [*(f"{p}.*" for p in MLFLOW_PACKAGES), *sorted(MLFLOW_MODULES)]
    assert not offending, _offences(
        f"modules outside {allowed} import mlflow",
        offending,
        "call a function of ml.registry (models, artifacts, lineage) or ml.registry.runs (the training "
        "run's params, metrics and artifacts) instead, adding one there if it is missing.",
    )


def package_of(module: str) -> str:
    """The stage package a module belongs to (``ml.drift.stats`` -> ``ml.drift``); root modules are their own."""
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 2 or (ML / parts[-1]).is_dir() else module


def test_stage_packages_depend_on_each_other_in_one_direction() -> None:
    imports = [i for i in ml_imports() if package_of(i.importer) != package_of(i.target)]
    graph = import_graph(Import(package_of(i.importer), package_of(i.target), i.path, i.line) for i in imports)
    cycles = import_cycles(graph)
    report = []
    for cycle in cycles:
        members = set(cycle)
        edges = [i.where() for i in imports if package_of(i.importer) in members and package_of(i.target) in members]
        report.append(" <-> ".join(sorted(members)) + "\n    " + "\n    ".join(edges))
    assert not cycles, (
        "stage packages import each other in a circle:\n  " + "\n  ".join(report) + "\nmove the "
        "shared code down into the lower package (or the root), so that imports point down the loop"
    )
