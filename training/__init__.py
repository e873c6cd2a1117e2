"""Training scripts: CLIP metric learning on a catalog."""
