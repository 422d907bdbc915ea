"""The composed config as a tree, printed at the start of a run and saved beside its records.

As lightning-hydra-template does: one branch per config group in the order data flows, its YAML resolved
(what the run really uses), then the run-level keys. `print_config: false` switches it off. Rank zero
only, so a DDP job prints it once.
"""

from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.utilities.rank_zero import rank_zero_only
from rich.console import Console
from rich.syntax import Syntax
from rich.tree import Tree

GROUP_ORDER = (
    "data",
    "backbone",
    "partition",
    "classifier",
    "loss",
    "optimizer",
    "scheduler",
    "evaluation",
    "trainer",
    "callbacks",
    "logger",
    "paths",
)  # the order data flows, then plumbing
TREE_FILE = "config_tree.log"  # beside result.json in the run folder


def config_tree(cfg: DictConfig) -> Tree:
    tree = Tree("config", guide_style="dim")
    groups = [key for key in GROUP_ORDER if OmegaConf.is_config(cfg.get(key))]
    groups += [key for key in cfg if key not in GROUP_ORDER and OmegaConf.is_config(cfg[key]) and key != "hydra"]
    for key in groups:
        tree.add(f"[bold]{key}").add(Syntax(_yaml(cfg[key]), "yaml", theme="ansi_dark"))
    scalars = {key: cfg[key] for key in cfg if not OmegaConf.is_config(cfg[key])}  # groups set to null included
    tree.add("[bold]run").add(Syntax(_yaml(OmegaConf.create(scalars)), "yaml", theme="ansi_dark"))
    return tree


def _yaml(node) -> str:
    try:
        return OmegaConf.to_yaml(node, resolve=True)
    except Exception:  # an interpolation that resolves only inside the job (e.g. hydra:...): show it as written
        return OmegaConf.to_yaml(node)


@rank_zero_only
def print_config_tree(cfg: DictConfig, run_dir: Path | None) -> None:
    """Print the tree, and save it as `<run_dir>/config_tree.log` when a run folder is given."""
    if not cfg.get("print_config", True):
        return
    tree = config_tree(cfg)
    Console().print(tree)
    if run_dir is not None:
        run_dir.mkdir(parents=True, exist_ok=True)
        with open(run_dir / TREE_FILE, "w") as file:
            Console(file=file, width=120, color_system=None).print(tree)
