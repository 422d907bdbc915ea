"""Part maps for a re-ID dataset: an offline pose-based generator, importers, and a picture to check them.

The part heads need a 7-class body-part map (Pascal-Person-Part scheme) per image, stored at
`<root>/part_maps/<split>/<stem>.png`. `generate_part_maps` makes them with MediaPipe's offline pose
model (the `parts` extra); `import_label_maps` takes other segmenters' maps (CDCL, LIP/CIHP);
`import_keypoints` rasterises existing keypoint files (layumi 14-point .mat, OpenPose 18-point CSV);
`show_part_maps` draws a grid to look at. Command line: `reid-parts` (cli.py).
Importing this package does not import mediapipe; only the generator needs it.
"""

from reid_lightning.parts.generate import Summary, generate_part_maps, make_part_map
from reid_lightning.parts.import_keypoints import import_keypoints, read_layumi_mat, read_openpose_csv
from reid_lightning.parts.import_maps import ImportSummary, import_label_maps
from reid_lightning.parts.pose import PoseConfig, PoseModel
from reid_lightning.parts.rasterize import BodyShape, draw_segments, rasterize, split_by_height
from reid_lightning.parts.show import overlay, show_part_maps

__all__ = [
    "BodyShape",
    "ImportSummary",
    "PoseConfig",
    "PoseModel",
    "Summary",
    "draw_segments",
    "generate_part_maps",
    "import_keypoints",
    "import_label_maps",
    "make_part_map",
    "overlay",
    "rasterize",
    "read_layumi_mat",
    "read_openpose_csv",
    "show_part_maps",
    "split_by_height",
]
