"""Write tests/fixtures/torchreid_layouts.json.gz from Torchreid's own model code: the test's independent source.

For each Torchreid model we load weights of (osnet_x1_0, osnet_x0_75, osnet_x0_5, osnet_x0_25, nasnetamobile)
the fixture holds the exact state-dict keys and shapes of Torchreid's network (its ImageNet head, 1000
classes), and the network's output on synthetic images when it carries the synthetic weights of
tests/torchreid_reference.py: OSNet's `featuremaps()` and NASNet's last cell after its ReLU (the map that
`features()` pools), projected onto 8 directions. tests/test_torchreid_weights.py then builds the same
synthetic file in Torchreid's key layout, loads it into our backbone and must reproduce these outputs.

    git clone https://github.com/KaiyangZhou/deep-person-reid /tmp/deep-person-reid   # any machine
    python scripts/make_torchreid_fixture.py --torchreid /tmp/deep-person-reid        # from the repo root

Only Torchreid's two model files are imported (by path; they need nothing beyond torch), not the package.
"""

import argparse
import gzip
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.torchreid_reference import FIXTURE_NAME, project, synthetic_images, synthetic_state  # noqa: E402

MODELS = {  # Torchreid builder -> (module file, our backbone name, our options)
    "osnet_x1_0": ("osnet.py", "osnet", {"width": 1.0}),
    "osnet_x0_75": ("osnet.py", "osnet", {"width": 0.75}),
    "osnet_x0_5": ("osnet.py", "osnet", {"width": 0.5}),
    "osnet_x0_25": ("osnet.py", "osnet", {"width": 0.25}),
    "nasnetamobile": ("nasnet.py", "nasnet", {}),
}


def import_file(path: Path):
    spec = importlib.util.spec_from_file_location(f"torchreid_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def feature_map(network: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    """The map our backbone must reproduce: OSNet's featuremaps(), NASNet's ReLU'd last cell."""
    if hasattr(network, "featuremaps"):
        return network.featuremaps(images)
    seen = []
    hook = network.relu.register_forward_hook(lambda module, inputs, output: seen.append(output))
    network.features(images)
    hook.remove()
    return seen[0]


def describe(builder: str, module, backbone: str, options: dict) -> dict:
    network = getattr(module, builder)(num_classes=1000, pretrained=False).eval()
    keys_and_shapes = [(k, list(v.shape)) for k, v in network.state_dict().items()]
    network.load_state_dict(synthetic_state(keys_and_shapes))
    with torch.no_grad():
        reference = project(feature_map(network, synthetic_images()))
    print(
        f"{builder}: {len(keys_and_shapes)} keys, reference {tuple(reference.shape)}, "
        f"max |value| {reference.abs().max():.3g}"
    )
    return {
        "backbone": backbone,
        "options": options,
        "state": dict(keys_and_shapes),
        "reference_shape": list(reference.shape),
        "reference": [float(f"{v:.7g}") for v in reference.flatten().tolist()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--torchreid", type=Path, required=True, help="a checkout of KaiyangZhou/deep-person-reid")
    parser.add_argument("--out", type=Path, default=ROOT / "tests" / "fixtures" / FIXTURE_NAME)
    args = parser.parse_args()
    models_dir = args.torchreid / "torchreid" / "models"
    commit = (
        subprocess.run(
            ["git", "-C", str(args.torchreid), "rev-parse", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        or "unknown"
    )
    modules = {name: import_file(models_dir / name) for name in ("osnet.py", "nasnet.py")}
    fixture = {
        "source": f"KaiyangZhou/deep-person-reid@{commit} torchreid/models/{{osnet,nasnet}}.py",
        "models": {
            builder: describe(builder, modules[file], backbone, options)
            for builder, (file, backbone, options) in MODELS.items()
        },
    }
    text = json.dumps(fixture, indent=1)
    text = re.sub(r"\[\s+([^\[\]{}\"]*?)\s+\]", lambda m: "[" + " ".join(m.group(1).split()) + "]", text)  # short lists
    args.out.write_bytes(gzip.compress((text + "\n").encode(), mtime=0))  # mtime 0: same bytes every run
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
