"""Atelier's library: what the front ends (cli/, dashboard/) and the tools (export/, training/, ...) stand on.

Importing it first readies torchvision for the CPU build of torch (atelier/torchvision_cpu.py): every
Atelier process, Triton's Python models included, imports this package before open_clip or diffusers
import torchvision.
"""

from atelier import torchvision_cpu as _torchvision_cpu  # noqa: F401 - installs its import hook
