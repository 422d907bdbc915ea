"""A synthetic Market-1501: little procedural pedestrians in Market's exact layout, with exact part maps.

Real Market-1501 cannot be downloaded on our machines, so tests and the default `python train.py` run on
this stand-in. It keeps what matters to re-ID: identity = appearance (identities.py), camera = scene,
viewpoint habits, colour cast and blur (cameras.py), per image a pose and a detector-like misalignment.
Every body part is drawn as a filled shape (figure.py), so the 7-class part map is exact by construction;
a segmenter's mistakes are then simulated on the saved maps only (segmenter.py). Named domains
(domains.py) give a second look for cross-domain runs, and occluders (occlusion.py) hide part of the
body in a share of query/gallery images, with the part maps saying what is hidden.

Modules, in the order an image is made: config (knobs) -> domains (style presets) -> identities ->
figure (regions) -> paint (colours) -> cameras (scenes, shots) -> occlusion -> render (one image) ->
segmenter (map mistakes) -> plan (file names) -> writer (files, manifest, ensure_synthetic) -> preview, cli.

    python -m reid_lightning.data.generator --root data/synthetic [--num-train-ids 100 ...] [--preview g.png]
"""

from reid_lightning.data.generator.cli import main
from reid_lightning.data.generator.config import SyntheticConfig
from reid_lightning.data.generator.writer import MANIFEST, ensure_synthetic, generate

__all__ = ["MANIFEST", "SyntheticConfig", "ensure_synthetic", "generate", "main"]
