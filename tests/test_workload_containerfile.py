"""workload/Containerfile, checked as text: no container engine is needed to catch the
mistakes that break an image silently (a module not copied, a wrong entry point, root, or
defaults that differ from the program's)."""

from __future__ import annotations

import ast
import json
import shlex
from pathlib import Path

from scaler.workload_spec import WorkloadSpec
from workload import config

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "workload"


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = (PACKAGE / "Containerfile").read_text()
    logical, out = "", []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            logical += line[:-1] + " "
            continue
        logical += line
        word, _, rest = logical.partition(" ")
        out.append((word.upper(), rest.strip()))
        logical = ""
    return out


def _all(name: str) -> list[str]:
    return [args for word, args in _instructions() if word == name]


def _env() -> dict[str, str]:
    env = {}
    for args in _all("ENV"):
        for pair in shlex.split(args):
            key, _, value = pair.partition("=")
            env[key] = value
    return env


def _local_imports(path: Path) -> set[str]:
    """The workload modules a file imports (``from workload.x import`` / ``import workload.x``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("workload"):
            parts = node.module.split(".")
            if len(parts) > 1:
                found.add(parts[1])
            else:
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("workload."))
    return found


def test_copies_every_module_the_program_imports():
    copied = set()
    for args in _all("COPY"):
        *sources, dest = args.split()
        assert dest == "/app/workload/"
        copied.update(Path(s).name for s in sources)
        assert all(s.startswith("workload/") for s in sources)
    needed, todo = set(), ["__main__", "__init__"]
    while todo:
        module = todo.pop()
        if module in needed:
            continue
        needed.add(module)
        todo.extend(_local_imports(PACKAGE / f"{module}.py"))
    assert {f"{m}.py" for m in needed} <= copied
    assert {p.name for p in PACKAGE.glob("*.py")} == copied  # nothing stale, nothing missing


def entrypoint() -> list[str]:
    """The image's ENTRYPOINT (exec form), as a list of words."""
    (entry,) = _all("ENTRYPOINT")
    return json.loads(entry)


def test_entrypoint_runs_the_package_isolated_without_site():
    # -I -S keeps PYTHON* variables, user site, site-packages and the modules site imports
    # out of every pod; run by path (not -m) so runpy and os stay out too. __main__.py puts
    # the package's parent on sys.path itself, which isolated mode does not.
    python, *flags, script = entrypoint()
    assert python == "python" and flags == ["-I", "-S"]
    assert script == "/app/workload/__main__.py"
    assert (PACKAGE / "__main__.py").exists()
    assert "PYTHONPATH" not in _env()  # ignored under -I: it would only mislead


def test_bytecode_is_compiled_at_build_time():
    # UID 1001 cannot write __pycache__ under /app: without this, every start compiles the
    # package and the encodings from source, about 1 MiB more resident set per pod.
    compile_steps = [run for run in _all("RUN") if "compileall" in run]
    assert compile_steps, "no compileall step"
    joined = " ".join(compile_steps)
    assert "/app/workload" in joined and "encodings" in joined


def test_runs_as_a_numeric_non_root_user():
    users = _all("USER")
    assert users, "no USER: the image would run as root"
    user = users[-1].split(":")[0]
    assert user.isdigit() and int(user) != 0


def test_defaults_match_the_program_and_the_scenario():
    env = _env()
    assert float(env["CPU"]) == config.DEFAULT_CPU
    assert float(env["MEMORY"]) == config.DEFAULT_MEMORY
    assert float(env["INCREMENT"]) == config.DEFAULT_INCREMENT
    spec = WorkloadSpec()
    assert (spec.cpu_percent, spec.memory_mib, spec.increment_mib) == (
        config.DEFAULT_CPU, config.DEFAULT_MEMORY, config.DEFAULT_INCREMENT,
    )


def test_small_python_base_standard_library_only():
    (base,) = _all("FROM")
    image = base.split()[0]
    assert "python:3." in image and image.endswith("-slim")
    for run in _all("RUN"):
        assert "pip" not in run.split() and "numpy" not in run  # nothing installed
