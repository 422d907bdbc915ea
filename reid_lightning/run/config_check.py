"""Check the composed config once, up front, before any data is read or a model built.

Without it a wrong value fails late and far from its key: `data.batch_size=0` 15-25 s later inside torch's
sampler, `data.height=0` in a convolution, `+data.batchsize=16` (the spelling Hydra's own error suggests for
a key it does not know) in a raw `TypeError`, and `backbone.channels_last=maybe` not at all (a non-empty
string is true). Here every problem is listed at once, each naming the key, the value and the fix:

- types: a value whose default (in the group's YAML under conf/, the one home of defaults) is a boolean,
  an integer or a number must be one;
- unknown keys of `data` (the settings of data.datamodule.DataConfig) and `trainer` (Lightning Trainer
  arguments), with the closest known key;
- ranges and choices (RULES): batch sizes and the input size >= 1, workers >= 0, a run that trains
  something (`trainer.max_epochs` / `trainer.max_steps` of 0 would record an untrained network).
"""

import difflib
import inspect
from collections.abc import Callable, Iterator
from dataclasses import fields
from pathlib import Path

from omegaconf import DictConfig, ListConfig, OmegaConf

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"
SKIPPED_GROUPS = ("hydra", "experiment", "debug", "head", "hparams_search", "sweep", "local", "paths")
# keys whose YAML default has one type but which take another by design (checked by RULES or their builder)
OTHER_TYPES = {"neck_dim": "an integer or paper", "backbone.pretrained": "true/false or a weights file"}


class ConfigError(ValueError):
    """The composed config has values that cannot work; nothing was run."""


def positive(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def non_negative(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def trains(value) -> bool:
    """max_epochs / max_steps: None or -1 (no limit from this key) or at least 1."""
    return value is None or (isinstance(value, int) and not isinstance(value, bool) and (value == -1 or value >= 1))


# key -> (test, what it must be, the fix); keys absent from the config are not checked
RULES: dict[str, tuple[Callable, str, str]] = {
    "data.batch_size": (positive, "an integer >= 1", "images per training batch and device, e.g. 32"),
    "data.eval_batch_size": (positive, "an integer >= 1", "images per evaluation batch, e.g. 128"),
    "data.num_instances": (positive, "an integer >= 1", "images per identity with sampler=identity, e.g. 4"),
    "data.num_workers": (non_negative, "an integer >= 0", "0 loads in the main process"),
    "data.height": (positive, "an integer >= 1", "input height in pixels, e.g. 128 (256 for published recipes)"),
    "data.width": (positive, "an integer >= 1", "input width in pixels, e.g. 64 (128 for published recipes)"),
    "data.num_part_labels": (positive, "an integer >= 1", "labels in the stored part maps, e.g. 7"),
    "data.sampler": (lambda v: v in ("random", "identity"), "random or identity", "data.sampler=identity for P x K"),
    "trainer.max_epochs": (
        trains,
        "at least 1 (or -1: no epoch limit, with trainer.max_steps)",
        "0 trains nothing and would test a random network; to evaluate a checkpoint use eval.py ckpt_path=...",
    ),
    "trainer.max_steps": (
        trains,
        "at least 1, or -1 for no step limit",
        "0 trains nothing; to evaluate a checkpoint use eval.py ckpt_path=...",
    ),
    "neck_dim": (
        lambda v: non_negative(v) or v == "paper",
        "an integer >= 0 or paper",
        "0 = no per-part fc, paper = the backbone paper's fc",
    ),
    "resume": (lambda v: v in ("auto", "never"), "auto or never", "resume=never starts over"),
}


def check_config(
    cfg: DictConfig, choices: dict | None = None, primary: str | None = None, conf_dir: Path = CONF_DIR
) -> None:
    """Raise ConfigError listing every problem of `cfg`. For the type check: `choices`, Hydra's group choices,
    and `primary`, the entry config's name (train, eval)."""
    problems = [*unknown_keys(cfg), *type_problems(cfg, choices or {}, primary, conf_dir), *rule_problems(cfg)]
    if problems:
        raise ConfigError(
            f"the config has {len(problems)} problem(s); nothing was run:\n"
            + "\n".join(f"  {p}" for p in dict.fromkeys(problems))
        )


def hydra_choices() -> dict:
    """The running Hydra job's group choices ({} outside Hydra)."""
    from hydra.core.hydra_config import HydraConfig

    return dict(HydraConfig.get().runtime.choices) if HydraConfig.initialized() else {}


def known_keys() -> dict[str, set[str]]:
    """Group -> the keys it accepts, where the code fixes them."""
    import pytorch_lightning as pl

    from reid_lightning.data.datamodule import DataConfig

    trainer = set(inspect.signature(pl.Trainer.__init__).parameters) - {"self"}
    return {"data": {f.name for f in fields(DataConfig)} | {"sources", "targets"}, "trainer": trainer | {"_target_"}}


def unknown_keys(cfg: DictConfig) -> list[str]:
    problems = []
    for group, known in known_keys().items():
        node = cfg.get(group)
        if not isinstance(node, DictConfig):
            continue
        for key in node:
            if key not in known:
                close = difflib.get_close_matches(str(key), sorted(known), n=1)
                hint = f"did you mean {group}.{close[0]}? " if close else ""
                problems.append(
                    f"{group}.{key}={OmegaConf.select(cfg, f'{group}.{key}', throw_on_missing=False)!r}"
                    f": {group} has no setting {key!r}; {hint}its settings are {', '.join(sorted(known))}"
                )
    return problems


def rule_problems(cfg: DictConfig) -> list[str]:
    problems = []
    for key, (test, must, fix) in RULES.items():
        if OmegaConf.select(cfg, key, default="<absent>", throw_on_missing=False) == "<absent>":
            continue
        value = OmegaConf.select(cfg, key)
        if not test(value):
            problems.append(f"{key}={value!r}: must be {must} ({fix})")
    return problems


def type_problems(cfg: DictConfig, choices: dict, primary: str | None, conf_dir: Path) -> list[str]:
    """Each value whose YAML default is a bool / int / float but which is not one."""
    problems = []
    for group, choice in choices.items():
        if choice is None or group.split("/")[0] in SKIPPED_GROUPS or not isinstance(cfg.get(group), DictConfig):
            continue
        problems += typed_against(cfg, group_defaults(conf_dir, group, str(choice)), f"{group}.")
    top = group_defaults(conf_dir, "", primary) if primary else None
    if top is not None:
        problems += typed_against(cfg, top, "")
    return problems


def typed_against(cfg: DictConfig, reference, prefix: str) -> list[str]:
    """The keys `prefix` + path of `cfg` whose value has another type than `reference`'s default for them."""
    problems = []
    for path, default in scalar_leaves(reference):
        key = f"{prefix}{path}"
        if key in OTHER_TYPES:
            continue
        value = OmegaConf.select(cfg, key, default=None, throw_on_missing=False)
        problem = type_problem(default, value)
        if problem:
            problems.append(f"{key}={value!r}: must be {problem} (the default is {default!r})")
    return problems


def type_problem(default, value) -> str | None:
    """What `value` must be to match the type of `default` (None when it does, or when either is None)."""
    if value is None or default is None:
        return None
    if isinstance(default, bool):
        return None if isinstance(value, bool) else "true or false"
    if isinstance(default, int):
        return None if isinstance(value, int) and not isinstance(value, bool) else "an integer"
    if isinstance(default, float):
        return None if isinstance(value, (int, float)) and not isinstance(value, bool) else "a number"
    return None


def group_defaults(conf_dir: Path, group: str, choice: str) -> DictConfig | None:
    """The values of conf/<group>/<choice>.yaml merged over the same group's files it lists in its defaults
    (None for a choice that is not a plain file of its own package, e.g. a timm model name)."""
    path = conf_dir / group / f"{choice}.yaml"
    if not path.is_file() or "@package" in path.read_text():
        return None
    loaded = OmegaConf.load(path)
    merged = OmegaConf.create()
    for entry in loaded.pop("defaults", None) or []:
        if isinstance(entry, str) and entry != "_self_":
            base = group_defaults(conf_dir, group, entry)
            if base is not None:
                merged = OmegaConf.merge(merged, base)
    return OmegaConf.merge(merged, loaded)


def scalar_leaves(node, prefix: str = "") -> Iterator[tuple[str, object]]:
    """(dotted path, value) of every bool / int / float leaf that is not an interpolation."""
    if node is None or isinstance(node, ListConfig):
        return
    for key in node:
        path = f"{prefix}{key}"
        if OmegaConf.is_interpolation(node, key) or OmegaConf.is_missing(node, key):
            continue
        value = node[key]
        if isinstance(value, DictConfig):
            yield from scalar_leaves(value, path + ".")
        elif isinstance(value, (bool, int, float)):
            yield path, value
