"""One way to build our components by name: a `Registry` per family, filled by a decorator.

    BACKBONES = Registry("backbone")

    @BACKBONES.register("osnet")
    class OSNet(nn.Module): ...

    BACKBONES.build("osnet", width=0.5)      # -> OSNet(width=0.5)

As timm's `register_model` does, the name is written once, beside the definition; a family's module
imports its members so that the registry is full once the family is imported. An unknown name fails
with the known names and close matches, and an unknown option with the options the builder accepts,
so a typo in a config is caught before anything is built. Families: backbones, partitions, poolings,
classifiers, margin softmaxes, metric losses, datasets, optimizers, schedulers.
"""

import difflib
import inspect
from collections.abc import Callable, Iterable
from typing import Any


class Registry:
    """Name -> builder (a class or a function) for one family of components."""

    def __init__(self, kind: str, config_key: str | None = None):
        self.kind = kind  # "backbone", "partition", ...: used in error messages
        self.config_key = config_key or kind  # how a user names it: partition=<name>, backbone.name=<name>
        self._builders: dict[str, Callable[..., Any]] = {}

    def register(self, name: str) -> Callable:
        """Decorator: register the class or function under `name` (lower-case, unique)."""

        def add(builder: Callable) -> Callable:
            if name in self._builders:
                raise ValueError(f"{self.kind} {name!r} is registered twice: {self._builders[name]} and {builder}")
            self._builders[name] = builder
            builder.registry_name = name
            return builder

        return add

    def names(self) -> list[str]:
        return list(self._builders)

    def __contains__(self, name: str) -> bool:
        return name in self._builders

    def get(self, name: str, extra_names: Iterable[str] = ()) -> Callable:
        """The builder of `name`; an unknown name raises ValueError with the known names and close matches."""
        if name not in self._builders:
            raise self.unknown(name, extra_names)
        return self._builders[name]

    def unknown(self, name: str, extra_names: Iterable[str] = (), extra_hint: str = "") -> ValueError:
        hint = close_matches_hint(name, [*self._builders, *extra_names], n=5)
        return ValueError(f"unknown {self.config_key}={name!r}; known: {', '.join(self._builders)}{extra_hint}{hint}")

    def options(self, name: str) -> set[str]:
        """Keyword options the builder of `name` accepts (for classes, along their own __init__s)."""
        return accepted_options(self.get(name))

    def check_options(self, name: str, options: Iterable[str], ignored: Iterable[str] = (), hint: str = "") -> None:
        """Raise ValueError naming every option `name` does not accept, and the ones it does.

        A function builder taking **kwargs (a timm model's options) accepts any option."""
        builder = self.get(name)
        if not inspect.isclass(builder) and _takes_any(inspect.signature(builder)):
            return
        accepted = self.options(name)
        unknown = sorted(set(options) - accepted)
        if unknown:
            shown = sorted(accepted - set(ignored))
            raise ValueError(
                f"{self.config_key}={name} has no option {', '.join(unknown)}; its options are "
                f"{', '.join(shown) or 'none'}{hint}"
            )

    def build(self, name: str, **options) -> Any:
        """Check the options, then call the builder of `name` with them."""
        self.check_options(name, options)
        return self.get(name)(**options)


def close_matches_hint(name: str, candidates: Iterable[str], n: int = 3) -> str:
    """'; close matches: a, b' naming the candidates that look like `name` (the likely fix of a typo), or ''.
    Every unknown-name error of the suite ends with it: registries, settings groups, data presets, knobs."""
    close = difflib.get_close_matches(str(name), list(candidates), n=n, cutoff=0.6)
    return f"; close matches: {', '.join(close)}" if close else ""


def accepted_options(builder: Callable) -> set[str]:
    """Named parameters of a function, or of a class's __init__ and those of its bases that it forwards
    **kwargs to (self, *args and **kwargs left out)."""
    if not inspect.isclass(builder):
        return _named(inspect.signature(builder))
    accepted: set[str] = set()
    for cls in builder.__mro__:
        if "__init__" not in vars(cls) or cls.__module__.startswith(("torch", "builtins")):
            continue
        signature = inspect.signature(cls.__init__)
        accepted |= _named(signature) - {"self"}
        if not _takes_any(signature):
            break  # this __init__ does not pass options on to its base
    return accepted


def _named(signature: inspect.Signature) -> set[str]:
    return {p.name for p in signature.parameters.values() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def _takes_any(signature: inspect.Signature) -> bool:
    return any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
