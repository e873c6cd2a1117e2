"""`atelier train`: CLIP metric learning, the tiny generators, SDXL LoRA, try-on warping and attention."""
