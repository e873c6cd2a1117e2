"""`atelier train`: CLIP metric learning, the tiny generators, SDXL LoRA, try-on warping and attention."""

import atelier  # noqa: F401 - first, for torchvision (atelier/torchvision_cpu.py): lanes' processes start here
