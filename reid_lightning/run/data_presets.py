"""`data.sources` / `data.targets` entries -> DatasetSpecs: which datasets a run trains on and tests on.

An entry is either the name of a conf/data preset or an inline mapping (a name that is the run's own
preset means its dataset as configured, command-line `data.root=...` included; a target may also name
a source's key):

    data.sources=[market1501,dukemtmc]                       # presets: exactly what data=<name> would load
    data.targets=[synthetic,{key: mine, name: folder, root: /data/mine, options: {missing_camids: distinct}}]

A preset name is resolved by composing this run's config with `data=<name>` (Hydra's compose API, the
run's other command-line overrides kept, its `data...` ones left out), so a source reads the same root
(environment variable, conf/local), loader options and part-map folder as a run with `data=<name>`
would. Only the dataset is taken from a preset: name, root, options, part_maps; loader settings (batch
size, input size, sampler, ...) stay those of the run's own `data=` preset. The key that names a dataset
in logs (`test/<key>/rank1`) and result tables is the preset's name, or an inline entry's `key`
(default: its `name`).
"""

from collections.abc import Mapping

from hydra import compose
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf

from reid_lightning.data.datasets import DatasetSpec
from reid_lightning.registry import close_matches_hint

SPEC_KEYS = ("key", "name", "root", "options", "part_maps")
NO_ROOT = (
    "set its root: data.root on the command line, the environment variable its preset reads "
    "(e.g. MARKET1501_ROOT, DUKEMTMC_ROOT), or `data: {root: ...}` in conf/local/default.yaml"
)


def spec_from_data(data: Mapping, key: str, where: str) -> DatasetSpec:
    """The dataset of a resolved `data` config (a preset composed for this run), named `key`."""
    spec = DatasetSpec(key, data["name"], data["root"], dict(data.get("options") or {}), data.get("part_maps"))
    return checked(spec, where)


def dataset_specs(entries, role: str, known: list[DatasetSpec] | None = None) -> list[DatasetSpec] | None:
    """The specs of a `data.sources` / `data.targets` list (`role` names it in errors); None for none.
    A name that is the key of a `known` spec (a source, when resolving targets) means that spec."""
    if entries is None:
        return None
    if isinstance(entries, str) or not isinstance(entries, list | tuple) or not entries:
        raise ValueError(
            f"{role}={entries!r} must be a non-empty list of conf/data preset names or "
            "{name, root, options} mappings, e.g. [market1501,dukemtmc]"
        )
    by_key = {spec.key: spec for spec in known or []}
    return [
        checked(by_key[entry], f"{role} entry {entry}")
        if isinstance(entry, str) and entry in by_key
        else spec_of(entry, role)
        for entry in entries
    ]


def spec_of(entry, role: str) -> DatasetSpec:
    if isinstance(entry, str):
        return preset_spec(entry, role)
    if isinstance(entry, Mapping):
        unknown = sorted(set(entry) - set(SPEC_KEYS))
        if unknown or "name" not in entry or "root" not in entry:
            raise ValueError(
                f"{role} entry {dict(entry)} needs name and root (and may give key, options, "
                f"part_maps){'; unknown: ' + ', '.join(unknown) if unknown else ''}"
            )
        spec = DatasetSpec(
            str(entry.get("key") or entry["name"]),
            entry["name"],
            entry["root"],
            dict(entry.get("options") or {}),
            entry.get("part_maps"),
        )
        return checked(spec, f"{role} entry {spec.key}")
    raise ValueError(f"{role} entry {entry!r} is neither a conf/data preset name nor a mapping")


def preset_spec(preset: str, role: str) -> DatasetSpec:
    """The dataset that `data=<preset>` gives this run's config."""
    if not GlobalHydra.instance().is_initialized():
        raise RuntimeError(
            f"{role} names the preset {preset}, which needs Hydra's config: run through train.py "
            "/ eval.py, or pass DatasetSpecs to the data module"
        )
    presets = GlobalHydra.instance().config_loader().get_group_options("data")
    if preset not in presets:
        raise ValueError(
            f"{role} names {preset!r}, which is not a conf/data preset; known: {', '.join(presets)}"
            f"{close_matches_hint(preset, presets)}"
        )
    config_name, overrides = "train", []
    if HydraConfig.initialized():
        config_name = HydraConfig.get().job.config_name
        overrides = [o for o in HydraConfig.get().overrides.task if not _is_data_override(o)]
    data = compose(config_name=config_name, overrides=[*overrides, f"data={preset}"]).data
    return spec_from_data(OmegaConf.to_container(data, resolve=True), preset, f"{role} preset {preset}")


def _is_data_override(override: str) -> bool:
    key = override.split("=", 1)[0].lstrip("+~")
    return key == "data" or key.startswith(("data.", "data/"))


def checked(spec: DatasetSpec, where: str) -> DatasetSpec:
    if spec.root in (None, "", "None"):
        raise ValueError(f"{where} ({spec.name}) has no root folder; {NO_ROOT}")
    return spec
