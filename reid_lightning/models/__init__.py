"""Models: backbones, partitions, classifiers and the LightningModule."""
