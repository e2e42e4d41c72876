"""The runtime/toolkit split: the runtime (every ``slimocr`` module outside ``slimocr/toolkit/``)
imports neither torch nor ``slimocr.toolkit``.

The toolkit commands are offered by the runtime CLI through one registration point,
``slimocr/cli/lazy.py``, which names them as strings and imports them only when they run.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import slimocr

PACKAGE = Path(slimocr.__file__).parent
ROOT = PACKAGE.parent
# the only runtime module allowed to name toolkit modules (as "module:attribute" strings)
LAZY_REGISTRATION = PACKAGE / "cli" / "lazy.py"
TOOLKIT_NAME = re.compile(r"^slimocr\.toolkit(\.|:|$)")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def runtime_files() -> list[Path]:
    toolkit = PACKAGE / "toolkit"
    return sorted(p for p in PACKAGE.rglob("*.py") if toolkit not in p.parents)


def _imported_names(path: Path, module: str) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import statement in ``path`` (module ``module``),
    at any depth."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*parent, base] if base else parent)
            names += [(node.lineno, base)]
            names += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return names


def layout_problems(files: dict[Path, str]) -> list[str]:
    """Imports of torch or slimocr.toolkit in ``files`` (path -> module name), and toolkit module
    names in strings outside the registration point."""
    problems = []
    for path, module in files.items():
        where = path.relative_to(ROOT) if ROOT in path.parents else path
        for line, name in _imported_names(path, module):
            if name == "torch" or name.startswith("torch.") or TOOLKIT_NAME.match(name):
                problems.append(f"{where}:{line}: imports {name}")
        if path == LAZY_REGISTRATION:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if TOOLKIT_NAME.match(node.value):
                    problems.append(f"{where}:{node.lineno}: names {node.value!r}")
    return problems


def test_runtime_source_never_imports_torch_or_the_toolkit() -> None:
    files = runtime_files()
    assert PACKAGE / "infer" / "session.py" in files and LAZY_REGISTRATION in files
    assert not any("toolkit" in p.parts for p in files)
    assert layout_problems({p: _module_name(p) for p in files}) == []


def test_the_scan_finds_a_bad_import(tmp_path: Path) -> None:
    # the scan itself must be able to fail: a function-local import, a relative one, a string
    bad = tmp_path / "probe.py"
    bad.write_text(
        "def f():\n"
        "    import torch.nn\n"
        "    from ..toolkit.models import create_model\n"
        "    return __import__('importlib').import_module('slimocr.toolkit.train')\n",
        encoding="utf-8",
    )
    problems = layout_problems({bad: "slimocr.infer.probe"})
    assert [p.split(": ", 1)[1] for p in problems] == [
        "imports torch.nn",
        "imports slimocr.toolkit.models",
        "imports slimocr.toolkit.models.create_model",
        "names 'slimocr.toolkit.train'",
    ]


_IMPORT_ALL = """
import importlib, json, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
from slimocr.cli.main import app
try:
    app(["zoo", "list"], prog_name="slimocr")
except SystemExit as exc:
    assert not exc.code, exc.code
loaded = sorted(
    m for m in sys.modules if m.split(".")[0] == "torch" or m.startswith("slimocr.toolkit")
)
print(json.dumps({"imported": len(sys.argv) - 1, "loaded": loaded}))
"""


def _import_in_fresh_process(modules: list[str]) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", _IMPORT_ALL, *modules],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        timeout=120,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_importing_the_whole_runtime_loads_neither_torch_nor_the_toolkit() -> None:
    modules = [_module_name(p) for p in runtime_files() if p.name != "__main__.py"]
    assert "slimocr.cli.main" in modules and len(modules) > 40
    report = _import_in_fresh_process(modules)
    assert report == {"imported": len(modules), "loaded": []}


def test_the_import_check_sees_the_toolkit() -> None:
    report = _import_in_fresh_process(["slimocr.toolkit.models"])
    assert "torch" in report["loaded"] and "slimocr.toolkit.models" in report["loaded"]


def test_toolkit_command_without_torch_is_one_error_line() -> None:
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from slimocr.cli.main import app\n"
        "app(['train', 'det', '--recipe', 'recipes/finetune_det_ic15.yaml'], prog_name='slimocr')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == [
        "error: `slimocr train` needs the training extra: pip install 'slimocr[train]'"
    ]
