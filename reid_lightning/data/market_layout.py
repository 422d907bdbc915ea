"""Market-1501's folder layout: the one home of its folder names, imported by the loaders and the generator.

It imports nothing of the suite, so the synthetic generator (data/generator/) can write the layout that the
dataset loaders (data/datasets/) read without either package importing the other.
"""

MARKET_FOLDER = "Market-1501-v15.09.15"  # the folder the official zip unpacks to
MARKET_FOLDERS = {"train": "bounding_box_train", "query": "query", "gallery": "bounding_box_test"}  # split -> folder
TRAIN_FOLDER, QUERY_FOLDER, GALLERY_FOLDER = (MARKET_FOLDERS[s] for s in ("train", "query", "gallery"))
NUM_CAMERAS = 6  # Market-1501's cameras (c1..c6)
MARKET_IMAGE_SIZE = (128, 64)  # (height, width) of its boxes: the thesis's input size and the synthetic default
