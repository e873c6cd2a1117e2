"""Train the geometric matching module (training/warping.py) on VITON-HD-layout data (training/viton.py).

Each step warps each person's own garment (the paired setting) onto them and takes the L1 distance to the garment
as worn, cut out of the person photo with the parse's upper-garment labels and put on white, as CP-VTON does.
There is no grid regulariser: a 5x5 spline with tanh-bounded offsets stays smooth on its own.

out_dir/checkpoint.pt is written every `checkpoint_every` steps and at the end; running again with the same data,
config and hyper-parameters continues from it, and a resumed run ends with the same weights and losses, bit for
bit on CPU, as one that was never interrupted.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from tqdm import tqdm

from atelier.config import AtelierError
from models.warping import build_gmm
from training.checkpoints import load_checkpoint, save_checkpoint
from training.viton import UPPER_GARMENT, VitonDataset, VitonPair, inpainting_mask, to_tensor


@dataclass
class WarpingRun:
    losses: list[float]  # one per step, the resumed ones included
    checkpoint: Path


def warping_batch(pairs: list[VitonPair]) -> dict[str, torch.Tensor]:
    """The GMM's inputs for pairs (a DataLoader collate_fn): agnostic, mask and cloth, and its target: the
    person's upper garment on white (the cloth's background, which the warp repeats outside the cloth)."""
    person = torch.stack([to_tensor(pair.person) for pair in pairs])
    mask = torch.stack([to_tensor(inpainting_mask(pair, "upper")) for pair in pairs])
    garment = torch.stack([torch.from_numpy(np.isin(pair.parse, UPPER_GARMENT))[None] for pair in pairs]).float()
    return {"agnostic": person * (1 - mask), "mask": mask,
            "cloth": torch.stack([to_tensor(pair.cloth) for pair in pairs]),
            "target": person * garment + (1 - garment)}


def train_warping(
    data_root: Path | str, out_dir: Path | str, steps: int = 300, batch_size: int = 4, lr: float = 1e-3,
    seed: int = 0, config: str = "tiny", size: tuple[int, int] = (128, 96), checkpoint_every: int = 100,
    resume: bool = True, progress: bool = True,
) -> WarpingRun:
    """Train a GMM of `config` at `size` on data_root's train split for `steps` steps, on CPU. A checkpoint of
    the same run that is already `steps` or more steps in is returned as it is."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "checkpoint.pt"
    dataset = VitonDataset(data_root, "train", size=size, paired=True)
    if len(dataset) < batch_size:
        raise AtelierError(f"{data_root}: {len(dataset)} training pairs cannot fill a batch of {batch_size}")
    pair_list = "".join(f"{person} {cloth}\n" for person, cloth in dataset.pairs)
    run = {"config": config, "size": list(size), "batch_size": batch_size, "lr": lr, "seed": seed,
           "pairs": hashlib.sha256(pair_list.encode()).hexdigest()}

    torch.manual_seed(seed)
    model = build_gmm(config, size)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.5, 0.999))  # CP-VTON's betas
    generator = torch.Generator().manual_seed(seed)  # draws each epoch's order
    step, epoch_start, losses = 0, 0, []
    if resume and (state := load_checkpoint(path, run)):
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["epoch_rng"])
        step, epoch_start, losses = state["step"], state["epoch_start"], state["losses"]

    model.train()
    bar = tqdm(total=steps, initial=min(step, steps), desc="warping", unit="step", disable=not progress)
    while step < steps:
        epoch_rng = generator.get_state()  # saved with each checkpoint: a resumed run redraws this epoch's order
        order = torch.randperm(len(dataset), generator=generator)[(step - epoch_start) * batch_size :]
        loader = DataLoader(dataset, batch_size=batch_size, sampler=order.tolist(), drop_last=True,
                            collate_fn=warping_batch)
        for batch in loader:
            warped, _ = model(batch["agnostic"], batch["mask"], batch["cloth"])
            loss = F.l1_loss(warped, batch["target"])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            losses.append(loss.item())
            bar.update()
            bar.set_postfix(loss=f"{losses[-1]:.4f}")
            if step % checkpoint_every == 0 or step == steps:
                save_checkpoint(path, {**run, "step": step, "losses": losses, "model": model.state_dict(),
                                        "optimizer": optimizer.state_dict(), "epoch_rng": epoch_rng,
                                        "epoch_start": epoch_start})
            if step == steps:
                break
        epoch_start = step
    bar.close()
    model.eval()
    return WarpingRun(losses=losses, checkpoint=path)
