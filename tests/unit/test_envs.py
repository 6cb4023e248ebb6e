"""The conda environments (envs/*.yaml) hold what their jobs import.

With ``--software-deployment-method conda`` each job runs in the environment
its rule names, and imports the subliminal package from the workflow's own
src/ (its script finds it from its own folder): the environments carry the
third-party packages only. No conda is at hand here, so this is checked from
the source: for each rule, the third-party modules imported by its script,
by the stage functions it calls (in their bodies) and, at module level, by
every subliminal module these import, must be in the rule's environment.
(Imports guarded by ``except ImportError`` are optional and not counted.)
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import yaml

from conftest import REPO

SRC = REPO / "src" / "subliminal"

#: distribution name (conda or pip) -> the modules it provides, with the
#: dependencies every installer brings along (scikit-learn needs scipy, ...)
PROVIDES = {
    "pyyaml": {"yaml"},
    "scikit-learn": {"sklearn", "scipy"},
    "seaborn": {"seaborn", "matplotlib"},
    "statsmodels": {"statsmodels", "scipy"},
    "trl": {"trl", "transformers", "datasets", "accelerate"},
    "peft": {"peft", "transformers"},
    "transformers": {"transformers", "tokenizers", "safetensors", "huggingface_hub"},
    "datasets": {"datasets", "huggingface_hub"},
    "torch": {"torch"},
}


def env_modules(env_file: Path) -> set[str]:
    spec = yaml.safe_load(env_file.read_text())
    names = []
    for dep in spec["dependencies"]:
        names += dep["pip"] if isinstance(dep, dict) else [dep]
    mods = set()
    for dep in names:
        name = re.split(r"[=<>\[ ]", dep, maxsplit=1)[0].lower()
        mods |= PROVIDES.get(name, {name.replace("-", "_")})
    return mods


def rules() -> dict[str, tuple[str, str]]:
    """rule -> (its conda env file, its script), from the rule files."""
    out = {}
    for smk in (REPO / "workflow" / "rules").glob("*.smk"):
        for name, body in re.findall(r"^rule (\w+):\n(.*?)(?=^rule |\Z)", smk.read_text(), flags=re.M | re.S):
            env = re.search(r"conda:\n\s+\"(.+?)\"", body)
            script = re.search(r"script:\n\s+\"(.+?)\"", body)
            if env and script:
                out[name] = ((smk.parent / env[1]).resolve(), (smk.parent / script[1]).resolve())
    return out


def _optional(node, parents) -> bool:
    """Whether an import sits in a try whose handler catches ImportError."""
    for p in parents:
        if isinstance(p, ast.Try) and any(
            h.type is not None and any(n in ast.unparse(h.type) for n in ("ImportError", "ModuleNotFoundError"))
            for h in p.handlers
        ):
            return True
    return False


def imports(nodes, module: str, *, into_functions: bool) -> set[str]:
    """Absolute module names imported by ``nodes`` (relative imports resolved
    against the subliminal module ``module``), function bodies included or not."""
    found = set()

    def visit(node, parents):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) and not into_functions:
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)) and not _optional(node, parents):
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif node.level:
                base = module.split(".")[: -node.level] if not module.endswith("__init__") else module.split(".")
                base = ".".join(base)
                if node.module:
                    found.add(f"{base}.{node.module}")
                else:
                    found.update(f"{base}.{a.name}" for a in node.names)
            else:
                found.add(node.module)
                found.update(f"{node.module}.{a.name}" for a in node.names)  # `from pkg import module`
        for child in ast.iter_child_nodes(node):
            visit(child, parents + [node])

    for n in nodes:
        visit(n, [])
    return found


def source_of(module: str) -> Path | None:
    rel = module.split(".")[1:]
    for cand in (SRC.joinpath(*rel).with_suffix(".py"), SRC.joinpath(*rel, "__init__.py")):
        if rel and cand.exists():
            return cand
    return SRC / "__init__.py" if not rel else None


def third_party(script: Path) -> set[str]:
    """The third-party top-level modules a script's job imports."""
    tree = ast.parse(script.read_text())
    todo = {m for m in imports(tree.body, "script", into_functions=False) if m.startswith("subliminal")}
    outside = {m for m in imports(tree.body, "script", into_functions=False) if not m.startswith("subliminal")}
    # the stage functions the script calls or hands to warm.call, through the
    # names it imports them as (`from subliminal import stages as run`): their
    # function-level imports too
    aliases = {
        alias.asname or alias.name: alias.name
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and node.module == "subliminal"
        for alias in node.names
    }
    for alias, module in aliases.items():
        called = set(re.findall(rf"\b{alias}\.(\w+)\b", script.read_text()))
        for fn in ast.parse((SRC / f"{module}.py").read_text()).body:
            if isinstance(fn, ast.FunctionDef) and fn.name in called:
                for m in imports(fn.body, f"subliminal.{module}", into_functions=True):
                    (todo if m.startswith("subliminal") else outside).add(m)
    seen = set()
    while todo:
        mod = todo.pop()
        path = source_of(mod)
        if path is None or path in seen:
            continue
        seen.add(path)
        name = "subliminal." + ".".join(path.relative_to(SRC).with_suffix("").parts)
        for m in imports(ast.parse(path.read_text()).body, name, into_functions=False):
            (todo if m.startswith("subliminal") else outside).add(m)
    tops = {m.split(".")[0] for m in outside}
    return {m for m in tops if m not in sys.stdlib_module_names and m not in ("__future__", "script", "snakemake")}


def test_every_rule_with_a_script_names_an_environment():
    assert len(rules()) >= 20


def test_each_environment_holds_what_its_jobs_import():
    missing = {}
    for rule, (env, script) in sorted(rules().items()):
        lacking = third_party(script) - env_modules(env)
        if lacking:
            missing[rule] = (env.name, sorted(lacking))
    assert not missing, missing


def test_the_check_sees_an_import():
    """The check is not vacuous: a training job imports torch, an analysis job seaborn."""
    scripts = REPO / "workflow" / "scripts"
    assert {"torch", "transformers", "datasets"} <= third_party(scripts / "train_student.py")
    assert {"seaborn", "matplotlib", "pandas"} <= third_party(scripts / "figure.py")
    assert "torch" not in third_party(scripts / "statistics.py")
