"""Distil an EfficientViT student from LiteMedSAM's encoder on a lent GPU, from one bundle.

Here (CPU, models/.venv), once:

    models/.venv/bin/python -m models distill bundle          # models/.cache/gpu-bundle/ (about 11 MB)

There (the device tool's machine: PyTorch, timm and onnx, no network; the repository's tree plus
the bundle is what travels, 64 MiB in all):

    python models/gpu_distill.py --bundle models/.cache/gpu-bundle --out "$OUT" --minutes 10

and on CPU, a few steps of the same command (`scripts/distill-smoke.sh`) before any GPU time.

This file imports only torch, timm, numpy and onnx: the bundle carries the rest. `teacher.zip` and
`decoder.zip` are TorchScript traces of LiteMedSAM's encoder and of its prompt encoder + mask
decoder with the shipped fp16-rounded weights (run in f32), so no model code needs to travel; the
weights the repository's ONNX files already hold are taken from them (the sha256 is checked), so
the bundle does not carry them twice; `data.npz` holds the training images (no held-out patient of docs/EVALUATION.md) and the
gate's held-out 2D cases, each resized to 256 on its longest side as the app does.

Training: the student (timm's EfficientViT-B1 backbone, random initialisation, each of its
features projected to 64 channels, summed on the 64x64 grid, then a SAM-style neck to 256
channels) learns the teacher's embedding (MSE) on batches augmented on the GPU (flips, crops,
gamma and contrast), the teacher computing its targets there; for the last part of the run a mask
loss is added: random boxes through the frozen decoder, the student's logits against the
teacher's (BCE on the teacher's probabilities + Dice). At the end: the held-out gate of
models/fast_encoders.py (masks at each case's original size from the same boxes: mean IoU >= 0.85
against the teacher's with the worst box >= 0.6, next to the 0.45 of one average embedding), an
ONNX export (opset 17, checked against PyTorch) and report.json.
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

GATE_MEAN, GATE_WORST = 0.85, 0.6


class Student(nn.Module):
    """An EfficientViT backbone (timm) with LiteMedSAM's embedding contract: image
    [B, 3, 256, 256] -> [B, 256, 64, 64]. Every feature level is projected to 64 channels and
    resized to the 64x64 grid, the levels summed, then SAM's neck shape (3x3 convs to 256)."""

    def __init__(self, variant: str = "efficientvit_b1"):
        super().__init__()
        import timm

        self.variant = variant
        self.backbone = timm.create_model(variant, pretrained=False, features_only=True)
        self.lateral = nn.ModuleList(nn.Conv2d(c, 64, 1) for c in self.backbone.feature_info.channels())
        self.neck = nn.Sequential(nn.Conv2d(64, 256, 3, padding=1), nn.GroupNorm(1, 256), nn.GELU(),
                                  nn.Conv2d(256, 256, 3, padding=1))

    def forward(self, image):
        fused = 0
        for lateral, feature in zip(self.lateral, self.backbone(image)):
            fused = fused + F.interpolate(lateral(feature), size=(64, 64), mode="bilinear", align_corners=False)
        return self.neck(fused)


def normalise(resized: torch.Tensor, sizes: torch.Tensor) -> torch.Tensor:
    """LiteMedSAM's input: each image min-max scaled over its resized region, zero padding
    bottom-right. `resized` [B, 3, 256, 256] in 0..255 with the image top-left, `sizes` [B, 2]."""
    out = torch.zeros_like(resized)
    for i, (h, w) in enumerate(sizes.tolist()):
        region = resized[i, :, :h, :w]
        low, high = region.min(), region.max()
        out[i, :, :h, :w] = (region - low) / torch.clamp(high - low, min=1e-8)
    return out


def augment(images: torch.Tensor, sizes: torch.Tensor, generator: torch.Generator):
    """Flips, a crop of 50-100% of each side, resized back to 256 on its longest side, gamma
    0.7-1.4 and contrast 0.8-1.2: [B, 3, 256, 256] uint8-valued floats -> the same, new sizes."""
    out = torch.zeros_like(images)
    new_sizes = torch.zeros_like(sizes)
    rand = lambda: float(torch.rand((), generator=generator))  # noqa: E731
    for i, (h, w) in enumerate(sizes.tolist()):
        image = images[i, :, :h, :w]
        if rand() < 0.5:
            image = image.flip(-1)
        if rand() < 0.5:
            image = image.flip(-2)
        ch, cw = max(8, int(h * (0.5 + 0.5 * rand()))), max(8, int(w * (0.5 + 0.5 * rand())))
        y, x = int((h - ch) * rand()), int((w - cw) * rand())
        image = image[:, y:y + ch, x:x + cw]
        scale = 256 / max(ch, cw)
        nh, nw = max(1, round(ch * scale)), max(1, round(cw * scale))
        image = F.interpolate(image[None], size=(nh, nw), mode="bilinear", align_corners=False, antialias=scale < 1)[0]
        image = 255 * (image.clamp(0, 255) / 255) ** (0.7 + 0.7 * rand())
        image = (image - image.mean()) * (0.8 + 0.4 * rand()) + image.mean()
        out[i, :, :nh, :nw] = image.clamp(0, 255)
        new_sizes[i] = torch.tensor([nh, nw])
    return out, new_sizes


def random_boxes(sizes: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One box per image inside its resized region, 10-100% of each side, in the 256 frame."""
    boxes = []
    for h, w in sizes.tolist():
        bh, bw = [max(4.0, s * (0.1 + 0.9 * float(torch.rand((), generator=generator)))) for s in (h, w)]
        y, x = [(s - b) * float(torch.rand((), generator=generator)) for s, b in ((h, bh), (w, bw))]
        boxes.append([x, y, x + bw, y + bh])
    return torch.tensor(boxes).floor()


def decode(decoder, embeddings: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """Low-res logits [B, 1, 256, 256], one box per embedding (the decoder's trace takes a batch)."""
    return decoder(embeddings, boxes.to(embeddings.device))[0]


def teacher_embed(teacher, x: torch.Tensor) -> torch.Tensor:
    """The teacher's embeddings of a batch, one image at a time: TinyViT's trace fixes its
    reshapes to the traced batch of one."""
    return torch.cat([teacher(x[j:j + 1]) for j in range(len(x))])


def mask_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    target = torch.sigmoid(teacher_logits)
    prob = torch.sigmoid(student_logits)
    dice = 1 - (2 * (prob * target).sum((1, 2, 3)) + 1) / (prob.sum((1, 2, 3)) + target.sum((1, 2, 3)) + 1)
    return F.binary_cross_entropy_with_logits(student_logits, target) + dice.mean()


def embed_all(embed, images, sizes, device, batch=16) -> torch.Tensor:
    """`embed` (a batch -> embeddings) over every image, in batches."""
    out = []
    with torch.no_grad():
        for i in range(0, len(images), batch):
            out.append(embed(normalise(images[i:i + batch].to(device).float(), sizes[i:i + batch])))
    return torch.cat(out)


def gate(student, teacher, decoder, data, device, limit=None) -> dict:
    """models/fast_encoders.py's gate: per box, the mask at the case's original size from the
    student's embedding against the teacher's; mean IoU and the worst box."""
    images = torch.from_numpy(data["gate_images"]).permute(0, 3, 1, 2)
    sizes = torch.from_numpy(data["gate_sizes"])
    originals, boxes, owners = data["gate_original"], data["gate_boxes"], data["gate_owner"]
    keep = np.arange(len(boxes)) if limit is None else np.arange(min(limit, len(boxes)))
    ious = []
    student.eval()
    with torch.no_grad():
        t_emb = embed_all(lambda x: teacher_embed(teacher, x), images, sizes, device)
        s_emb = embed_all(student, images, sizes, device)
        for k in keep:
            i = int(owners[k])
            (h, w), (H, W) = sizes[i].tolist(), originals[i].tolist()
            box = torch.from_numpy(boxes[k][None].astype(np.float32))
            masks = []
            for emb in (t_emb, s_emb):
                logits = decode(decoder, emb[i:i + 1], box)[:, :, :h, :w]
                masks.append(F.interpolate(logits, size=(H, W), mode="bilinear", align_corners=False)[0, 0] > 0)
            union = (masks[0] | masks[1]).sum().item()
            ious.append(1.0 if union == 0 else (masks[0] & masks[1]).sum().item() / union)
    mean, worst = float(np.mean(ious)), float(np.min(ious))
    return {"boxes": len(ious), "mean_iou": round(mean, 4), "worst_iou": round(worst, 4),
            "passed": mean >= GATE_MEAN and worst >= GATE_WORST}


def load_trace(bundle: Path, name: str, device: torch.device):
    """A TorchScript trace of the bundle (f32, eval), its stripped weights put back from the
    repository's ONNX file (models/distill.py strip_weights), which must be the one it was made
    from."""
    import hashlib
    import io
    import zipfile

    import onnx
    from onnx import numpy_helper

    with zipfile.ZipFile(bundle / f"{name}.zip") as archive:
        trace = torch.jit.load(io.BytesIO(archive.read("trace.pt")), map_location="cpu").float().eval()
        spec = json.loads(archive.read("weights.json"))
    onnx_path = Path(__file__).resolve().parent.parent / spec["onnx"]
    data = onnx_path.read_bytes()
    if hashlib.sha256(data).hexdigest() != spec["onnx_sha256"]:
        raise SystemExit(f"{onnx_path}: not the file the bundle was made from (rebuild: python -m models distill bundle)")
    weights = {i.name: numpy_helper.to_array(i) for i in onnx.load_from_string(data).graph.initializer}
    state = trace.state_dict()
    with torch.no_grad():
        for key, (init, transposed) in spec["tensors"].items():
            array = weights[init].T if transposed else weights[init]
            state[key].copy_(torch.from_numpy(np.ascontiguousarray(array).astype(np.float32)))
    for p in trace.parameters():
        p.requires_grad_(False)
    return trace.to(device)


def export_onnx(student, path: Path, device) -> float:
    """ONNX opset 17 (static shapes, as the shipped encoder); returns max |ONNX - PyTorch| when
    onnxruntime is there (else NaN: checked back here)."""
    student = student.eval().float().cpu()
    image = torch.rand(1, 3, 256, 256)
    torch.onnx.export(student, (image,), str(path), input_names=["image"], output_names=["embedding"],
                      opset_version=17, dynamo=False)
    import onnx

    onnx.checker.check_model(onnx.load(str(path)))
    try:
        import onnxruntime as ort
    except ImportError:
        return float("nan")
    (got,) = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"image": image.numpy()})
    with torch.no_grad():
        return float(np.abs(got - student(image).numpy()).max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--minutes", type=float, default=10.0, help="training time (the gate and export follow)")
    parser.add_argument("--steps", type=int, default=0, help="stop after this many steps (0: only the time limit)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--mask-batch", type=int, default=8, help="boxes per step in the mask-loss phase")
    parser.add_argument("--mask-from", type=float, default=0.6, help="share of the run after which the mask loss is added")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--variant", default="efficientvit_b1", help="timm EfficientViT: efficientvit_b0, _b1, _b2")
    parser.add_argument("--gate-boxes", type=int, default=0, help="evaluate only this many held-out boxes (0: all)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    started = time.time()
    device = torch.device(args.device)
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    log = (args.out / "log.txt").open("w")

    def say(text: str) -> None:
        print(text, flush=True)
        log.write(text + "\n")
        log.flush()

    teacher = load_trace(args.bundle, "teacher", device)
    decoder = load_trace(args.bundle, "decoder", device)
    data = dict(np.load(args.bundle / "data.npz"))
    images = torch.from_numpy(data["images"]).permute(0, 3, 1, 2).contiguous()
    sizes = torch.from_numpy(data["sizes"])
    student = Student(args.variant).to(device)
    say(f"{args.variant}: {sum(p.numel() for p in student.parameters()) / 1e6:.2f} M parameters; "
        f"{len(images)} training images, device {device}")
    optimizer = torch.optim.AdamW(student.parameters(), lr=args.lr, weight_decay=0.01)
    budget = args.minutes * 60
    step, losses = 0, []
    train_started = time.time()
    while True:
        elapsed = time.time() - train_started
        if elapsed >= budget or (args.steps and step >= args.steps):
            break
        for group in optimizer.param_groups:  # cosine decay over the time budget
            group["lr"] = args.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, elapsed / budget)))
        pick = torch.randint(len(images), (args.batch,), generator=generator)
        batch, batch_sizes = augment(images[pick].to(device).float(), sizes[pick], generator)
        x = normalise(batch, batch_sizes)
        with torch.no_grad():
            target = teacher_embed(teacher, x)
        predicted = student(x)
        loss = F.mse_loss(predicted, target)
        masked = args.steps and step >= args.mask_from * args.steps or not args.steps and elapsed >= args.mask_from * budget
        if masked:
            n = min(args.mask_batch, len(x))
            boxes = random_boxes(batch_sizes[:n], generator)
            with torch.no_grad():
                teacher_logits = decode(decoder, target[:n], boxes)
            loss = loss + 0.1 * mask_loss(decode(decoder, predicted[:n], boxes), teacher_logits)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        step += 1
        if step % 50 == 0 or step <= 3:
            say(f"step {step} loss {np.mean(losses[-50:]):.4f}{' (+mask)' if masked else ''} ({time.time() - train_started:.0f} s)")
    train_seconds = time.time() - train_started
    result = gate(student, teacher, decoder, data, device, args.gate_boxes or None)
    say(f"gate: {result}")
    torch.save({k: v.half() for k, v in student.state_dict().items()}, args.out / "student_fp16.pt")
    diff = export_onnx(student, args.out / "student.onnx", device)
    report = {"variant": args.variant, "device": str(device), "steps": step, "batch": args.batch,
              "lr": args.lr, "train_seconds": round(train_seconds, 1), "total_seconds": round(time.time() - started, 1),
              "loss_first50": float(np.mean(losses[:50])) if losses else None,
              "loss_last50": float(np.mean(losses[-50:])) if losses else None,
              "gate": result, "onnx_max_abs_diff": diff, "training_images": int(len(images))}
    (args.out / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    say(json.dumps(report))


if __name__ == "__main__":
    main()
