"""What the two decoder trainings share (finetune.py: a mask decoder per modality; clicks.py: the
click embeddings): where `finetune cache` keeps the teacher embeddings of the training patients
they both train on, where `clicks train` writes the click embeddings (finetune.py export puts them
in its decoders), box jitter, and the Dice + BCE loss.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .common import CACHE

TEACHER_CACHE = CACHE / "finetune"
CLICK_EMBEDDINGS = CACHE / "clicks" / "click_embeddings.pt"


def jittered_boxes(boxes: np.ndarray, rng: np.random.Generator, max_shift: float) -> torch.Tensor:
    """Box jitter of up to max_shift original pixels per side, then LiteMedSAM's truncation."""
    scale = boxes[:, 4:5]
    shift = rng.uniform(-max_shift, max_shift, size=(len(boxes), 4)) * scale
    b = boxes[:, :4] + shift
    b[:, 2:] = np.maximum(b[:, 2:], b[:, :2] + scale)  # never inverted
    return torch.from_numpy(np.clip(np.trunc(b), 0, 256).astype(np.float32))


def dice_bce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    prob = torch.sigmoid(logits)
    inter = (prob * target).sum((1, 2, 3))
    dice = 1 - (2 * inter + 1) / (prob.sum((1, 2, 3)) + target.sum((1, 2, 3)) + 1)
    return dice.mean() + F.binary_cross_entropy_with_logits(logits, target)
