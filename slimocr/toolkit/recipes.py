"""One recipe schema for every run: train, prune, PTQ and PACT.

A recipe is a YAML mapping. Besides the fields of its method's typed config it may hold::

    method: pact                  # train | prune | ptq | pact: which runner it is for
    base: quant_det_ptq.yaml      # start from this recipe (beside this file; one level only):
                                  # mappings merge key by key, lists and scalars are replaced
    parent: ppocrv3-det-prune     # the model it starts from: a zoo, official or peer name
    parent_recipe: prune_det.yaml # or the recipe that builds that model (beside this file)
    parent_output: pruned         # of a prune parent: ``model`` (finetuned, default) or
                                  # ``pruned`` (before finetuning)
    description: free text

Strings may use ``${data}`` (the data root: ``$SLIMOCR_DATA``, default ``../shared/data``, see
:func:`slimocr.eval.splits.data_root`) and ``${runs}`` (run folders: ``$SLIMOCR_RUNS``, default
``runs``). A parent built by a recipe is found in that recipe's run folder, so a recipe never
names a ``runs/`` path for its input; ``slimocr zoo build`` builds such a parent first.

>>> load_recipe("recipes/quant_det_prune_ptq.yaml").parent_recipe  # doctest: +SKIP
PosixPath('recipes/prune_det.yaml')
"""

from __future__ import annotations

import copy
import os
import re
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slimocr.errors import ConfigError
from slimocr.inputs import path_kind

METHODS = ("train", "prune", "ptq", "pact")
QUANT_METHODS = ("ptq", "pact")
PARENT_OUTPUTS = ("model", "pruned")
# schema keys every recipe may hold next to its method's typed fields
HEAD_KEYS = ("method", "parent", "parent_recipe", "parent_output")
_VAR = re.compile(r"\$\{([^}]*)\}")
# the recipes being loaded, outermost first: a parent_recipe chain that comes back is a loop
_LOADING: ContextVar[tuple[Path, ...]] = ContextVar("_LOADING", default=())


def runs_root() -> Path:
    """The folder run outputs go to (``$SLIMOCR_RUNS`` or ``runs``)."""
    return Path(os.environ.get("SLIMOCR_RUNS") or "runs")


def recipe_variables(runs: str | Path | None = None) -> dict[str, str]:
    """The ``${name}`` values: ``data`` (data root) and ``runs`` (run folders)."""
    from slimocr.eval.splits import data_root

    return {"data": str(data_root()), "runs": str(runs if runs is not None else runs_root())}


def source_root() -> Path:
    """The source checkout this package runs from (holds ``recipes/`` and ``docs/``)."""
    return Path(__file__).resolve().parents[2]


def repo_path(path: str | Path) -> Path:
    """A repository-relative path (``recipes/x.yaml``): as given when it exists from the
    working directory, else under the source checkout."""
    path = Path(path)
    if path.is_absolute() or path.exists():
        return path
    candidate = source_root() / path
    return candidate if candidate.exists() else path


# ---------------------------------------------------------------- reading
def _yaml_problem(exc: Exception) -> str:
    """A YAML error on one line: what is wrong and, when known, where (line, column)."""
    problem = getattr(exc, "problem", None) or getattr(exc, "reason", None)
    mark = getattr(exc, "problem_mark", None)
    text = str(problem) if problem else str(exc)
    if mark is not None:
        text += f" at line {mark.line + 1}, column {mark.column + 1}"
    return " ".join(text.split())


def set_dotted(values: dict[str, Any], dotted: str, raw: str) -> None:
    """Set ``values[a][b]... = yaml(raw)`` for ``dotted`` = ``a.b...``.

    Keys may hold dots themselves (module names, e.g. under ``select.ratios``): at each level
    the longest run of parts that names an existing key is taken; a new key is a single part,
    or all the remaining parts in a mapping whose keys hold dots.
    """
    import yaml

    parts = dotted.split(".")
    node = values
    i = 0
    while True:
        for j in range(len(parts), i, -1):
            key = ".".join(parts[i:j])
            if key in node:
                break
        else:  # a new key; in a mapping keyed by dotted names (module names) it is the rest
            dotted_keys = any(isinstance(k, str) and "." in k for k in node)
            j = len(parts) if dotted_keys else i + 1
            key = ".".join(parts[i:j])
        if j == len(parts):
            try:
                node[key] = yaml.safe_load(raw)
            except yaml.YAMLError as exc:
                raise ConfigError(
                    f"override {dotted}={raw!r}: the value is not valid YAML ({_yaml_problem(exc)})"
                ) from None
            return
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise ConfigError(f"override {dotted!r}: {key} is not a section")
        node, i = child, j


def read_yaml(path: Path) -> dict[str, Any]:
    """One recipe file as plain data (no base, no variables)."""
    import yaml

    if path_kind(path) == "other":  # opening a FIFO blocks, a device never ends
        raise ConfigError(f"{path}: cannot read recipe (a FIFO, device or socket, not a file)")
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: cannot read recipe (not UTF-8 text: byte {exc.start})"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not a valid YAML recipe ({_yaml_problem(exc)})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read recipe ({exc.strerror or exc})") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: a recipe must be a mapping")
    return values


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` on top of ``base``: mappings merge key by key, anything else is replaced.

    >>> merge({"a": {"x": 1, "y": [1]}, "b": 2}, {"a": {"y": [3]}, "c": 4})
    {'a': {'x': 1, 'y': [3]}, 'b': 2, 'c': 4}
    """
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def substitute(values: Any, variables: dict[str, str], where: str) -> Any:
    """``${name}`` in every string replaced by ``variables[name]``; an unknown name is an
    error naming the key."""
    if isinstance(values, dict):
        return {k: substitute(v, variables, f"{where}.{k}") for k, v in values.items()}
    if isinstance(values, list):
        return [substitute(v, variables, f"{where}[{i}]") for i, v in enumerate(values)]
    if not isinstance(values, str):
        return values

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in variables:
            raise ConfigError(
                f"{where}: unknown variable ${{{name}}}; known: "
                + ", ".join(f"${{{k}}}" for k in sorted(variables))
            )
        return variables[name]

    return _VAR.sub(one, values)


def read_recipe(
    path: str | Path,
    overrides: list[str] | None = None,
    variables: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A recipe's effective plain data: its ``base`` merged under it, ``description`` dropped,
    ``overrides`` (``key.sub=value``, YAML values) applied, ``${...}`` replaced.

    Raises:
        ConfigError: unreadable file, a base that has a base, malformed override, unknown
            variable.
    """
    path = Path(path)
    values = read_yaml(path)
    base = values.pop("base", None)
    if base is not None:
        if not isinstance(base, str):
            raise ConfigError(f"{path}.base: expected a recipe file name, got {base!r}")
        base_path = path.parent / base
        base_values = read_yaml(base_path)
        if "base" in base_values:
            raise ConfigError(
                f"{path}.base: {base_path} has a base itself; a base is one level only"
            )
        base_values.pop("description", None)
        values = merge(base_values, values)
    values.pop("description", None)
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"override {item!r}: expected key=value")
        key, raw = item.split("=", 1)
        set_dotted(values, key.strip(), raw)
    return substitute(values, variables or recipe_variables(), str(path))


# ---------------------------------------------------------------- the schema head
@dataclass(frozen=True)
class Head:
    """The schema keys of a recipe (see the module docstring)."""

    method: str | None
    parent: str | None = None
    parent_recipe: Path | None = None  # the recipe that builds the parent (None: no build)
    parent_output: str = "model"


def split_head(
    values: dict[str, Any],
    where: str,
    methods: tuple[str, ...] = METHODS,
    base_dir: Path | None = None,
    records_path: Path | None = None,
    default_method: str | None = None,
) -> tuple[Head, dict[str, Any]]:
    """Take the schema keys out of ``values``; check the method is one of ``methods`` and
    find the recipe that builds the parent (``parent_recipe``, or the parent's zoo record).

    A quantization recipe keeps ``parent`` among its typed fields too (the int8 file's
    lineage). ``method`` may be missing only with a ``default_method`` or when ``methods``
    are the quantization methods alone (the command line then says which)."""
    values = dict(values)
    values.pop("description", None)
    method = values.pop("method", None)
    if method is not None and method not in methods:
        if method in METHODS:
            raise ConfigError(f"{where}.method: a {method} recipe, not one of {list(methods)}")
        raise ConfigError(f"{where}.method: one of {list(METHODS)}, not {method!r}")
    method = method or default_method
    quant = method in QUANT_METHODS or (method is None and set(methods) <= set(QUANT_METHODS))
    if method is None and not quant:
        raise ConfigError(f"{where}: missing 'method:' (one of {', '.join(methods)})")
    parent = values.get("parent") if quant else values.pop("parent", None)
    raw_recipe = values.pop("parent_recipe", None)
    output = values.pop("parent_output", "model")
    for key, value in (("parent", parent), ("parent_recipe", raw_recipe)):
        if value is not None and not isinstance(value, str):
            raise ConfigError(f"{where}.{key}: expected a name, got {value!r}")
    if output not in PARENT_OUTPUTS:
        raise ConfigError(f"{where}.parent_output: one of {list(PARENT_OUTPUTS)}, not {output!r}")
    parent_recipe: Path | None
    if raw_recipe is not None:
        parent_recipe = (base_dir or Path.cwd()) / raw_recipe
        if not parent_recipe.is_file():
            raise ConfigError(f"{where}.parent_recipe: {parent_recipe} not found")
    else:
        # a name only labels the lineage where the recipe names its own weights (a quantized
        # file's parent, a training run's init); otherwise it says where the weights come from
        labels_only = quant or values.get("init") is not None or values.get("weights") is not None
        parent_recipe = _zoo_parent_recipe(parent, where, records_path, strict=not labels_only)
    return Head(method, parent, parent_recipe, output), values


def _zoo_parent_recipe(
    parent: str | None, where: str, records_path: Path | None, strict: bool = True
) -> Path | None:
    """The recipe file of zoo model ``parent``; None for an import of official weights (a
    zoo import, an official or a peer name). With ``strict``, any other name is an error."""
    if parent is None:
        return None
    from slimocr.zoo.records import RECORDS_JSON, load_records
    from slimocr.zoo.registry import OFFICIAL_NAMES

    records = load_records(records_path or RECORDS_JSON)
    record = records.get(parent)
    if record is None and parent not in OFFICIAL_NAMES and strict:
        raise ConfigError(
            f"{where}.parent: unknown model {parent!r}; a zoo, official or peer name "
            f"(known: {', '.join(sorted([*records, *OFFICIAL_NAMES]))})"
        )
    if record is None or record.recipe == "import":
        return None
    if not record.recipe.endswith((".yaml", ".yml")):
        raise ConfigError(
            f"{where}.parent: {parent} is made by {record.recipe!r} from an ONNX file; a "
            "recipe starts from a model with torch weights"
        )
    path = repo_path(record.recipe)
    if not path.is_file():
        raise ConfigError(f"{where}.parent: {parent}'s recipe {record.recipe} not found")
    return path


def drop_method(values: dict[str, Any], where: str, methods: tuple[str, ...]) -> dict[str, Any]:
    """``values`` without ``method`` (checked to be one of ``methods``) and, outside the
    quantization recipes, without ``parent``: for typed builders fed plain data."""
    values = dict(values)
    method = values.pop("method", None)
    if method is not None and method not in methods:
        raise ConfigError(f"{where}.method: expected one of {list(methods)}, not {method!r}")
    if not set(methods) <= set(QUANT_METHODS):
        values.pop("parent", None)
    return values


# ---------------------------------------------------------------- typed recipes
@dataclass(frozen=True)
class Recipe:
    """A loaded recipe: where it came from, its schema keys and its typed config."""

    path: Path
    head: Head
    config: Any  # TrainConfig | PruneRecipe | QuantRecipe

    @property
    def method(self) -> str:
        assert self.head.method is not None
        return self.head.method

    @property
    def parent_recipe(self) -> Path | None:
        return self.head.parent_recipe

    def output(self, which: str = "model") -> Path:
        """Where this recipe leaves the model a child recipe starts from."""
        return run_output(self, which)

    def check_parent_built(self, weights: str | Path | None) -> None:
        """Before a run: the ``weights`` it starts from exist, or, where its parent recipe
        writes them, one error saying which recipe to run first.

        Raises:
            ConfigError: the parent recipe's output is missing.
        """
        parent = self.head.parent_recipe
        if parent is None or weights is None or Path(weights).exists():
            return
        loaded = load_recipe(parent)  # every method's config names its kind
        raise ConfigError(
            f"{self.path}: starts from {weights}, which its parent recipe has not written yet: "
            f"run `slimocr {loaded.method} {loaded.config.kind} --recipe {parent}` first"
        )


def run_output(recipe: Recipe, which: str = "model") -> Path:
    """A train run's ``final.pt``; a prune run's ``model/`` (or ``pruned/``) folder."""
    if recipe.method == "train":
        return Path(recipe.config.out_dir) / "final.pt"
    if recipe.method == "prune":
        return Path(recipe.config.out_dir) / which
    raise ConfigError(
        f"{recipe.path}: a {recipe.method} recipe writes an int8 ONNX file, which "
        "no recipe starts from"
    )


def parent_weights(
    head: Head, where: str, variables: dict[str, str], records_path: Path | None = None
) -> str | None:
    """The torch weights a recipe starts from: its parent recipe's output, or None (the
    official import)."""
    if head.parent_recipe is None:
        return None
    parent = load_recipe(head.parent_recipe, variables=variables, records_path=records_path)
    if head.method == "train" and parent.method != "train":
        raise ConfigError(
            f"{where}.parent: a train recipe starts from a train run's weights, not from a "
            f"{parent.method} recipe ({head.parent_recipe})"
        )
    if head.parent_output != "model" and parent.method != "prune":
        raise ConfigError(f"{where}.parent_output: only a prune parent has {head.parent_output!r}")
    return str(parent.output(head.parent_output))


def config_from_values(
    method: str,
    values: dict[str, Any],
    where: str,
    head: Head,
    variables: dict[str, str],
    records_path: Path | None = None,
) -> Any:
    """The typed config of one method from a recipe's effective data (schema keys removed)."""
    if method == "train":
        from slimocr.toolkit.train.config import config_from_dict

        if values.get("init") is None:
            weights = parent_weights(head, where, variables, records_path)
            values = values if weights is None else {**values, "init": weights}
        return config_from_dict(values, where)
    if method == "prune":
        from slimocr.toolkit.compress.prune.config import recipe_from_dict

        if head.parent_recipe is not None:
            raise ConfigError(
                f"{where}.parent: pruning starts from the official weights, not from "
                f"{head.parent or head.parent_recipe}"
            )
        return recipe_from_dict(values, where)
    from slimocr.toolkit.compress.quant.recipe import recipe_from_dict as quant_from_dict

    if values.get("weights") is None:
        weights = parent_weights(head, where, variables, records_path)
        values = values if weights is None else {**values, "weights": weights}
    return quant_from_dict(values, where)


def load_recipe(
    path: str | Path,
    overrides: list[str] | None = None,
    variables: dict[str, str] | None = None,
    records_path: Path | None = None,
    default_method: str | None = None,
    methods: tuple[str, ...] = METHODS,
) -> Recipe:
    """Read, merge, check and type a recipe file.

    Args:
        path: the YAML file.
        overrides: ``key.sub=value`` strings.
        variables: ``${name}`` values (default :func:`recipe_variables`).
        records_path: zoo records that name parents (default the package's).
        default_method: taken when the file states no ``method`` (a recipe of one family read
            by that family's loader); None: the file must state it.
        methods: the methods accepted here.

    Raises:
        ConfigError: naming the file and key; also a ``parent_recipe`` chain that loops.
    """
    path = Path(path)
    loading = _LOADING.get()
    if path.resolve() in loading:
        chain = " -> ".join(p.name for p in (*loading, path.resolve()))
        raise ConfigError(f"{loading[-1]}.parent_recipe: the parents loop ({chain})")
    token = _LOADING.set((*loading, path.resolve()))
    try:
        variables = variables or recipe_variables()
        values = read_recipe(path, overrides, variables)
        head, rest = split_head(
            values, str(path), methods, path.parent, records_path, default_method
        )
        method = head.method or QUANT_METHODS[-1]
        config = config_from_values(method, rest, str(path), head, variables, records_path)
    finally:
        _LOADING.reset(token)
    return Recipe(path, head, config)
