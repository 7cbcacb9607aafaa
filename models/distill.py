"""The EfficientViT student pipeline: an EfficientViT-B0 backbone (timm's architecture, random
initialisation: no pretrained weights are reachable) with a SAM-style neck giving LiteMedSAM's
[1, 256, 64, 64] embedding, distilled from cached teacher embeddings, exported to ONNX and run by
daftseg's tract engine with LiteMedSAM's decoder unchanged.

    models/.venv/bin/python -m models distill cache                   # teacher embeddings
    models/.venv/bin/python -m models distill train --minutes 10       # resumable, logged
    models/.venv/bin/python -m models distill export                   # models/.cache/distill/student.onnx
    daftseg --manifest models/.cache/distill/manifest.json bench --model efficientvit-student  # tract
    models/.venv/bin/python -m models distill evaluate                 # gate numbers on held-out images

Training images are the training patients' slices only (every axial slice of pyradiomics lung1
and brain1 with flips, stardist's top half in crops); the gate is measured on the held-out 2D
cases as in models/fast_encoders.py. Loss: embedding MSE. Every run appends to
models/runs/distill.jsonl. The student is not shipped: it would have to pass the gate of
docs/MODELS.md first.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .data import build_eval_set as evalset
from . import fast_encoders
from . import finetune
from . import litemedsam as ref
from . import gpu_distill
from .gpu_distill import Student
from .common import general_encoder_session, general_entry, sha256_file

CACHE = Path(__file__).resolve().parent / ".cache" / "distill"
RUNS = Path(__file__).resolve().parent / "runs" / "distill.jsonl"


def training_images():
    for name, modality in (("lung1", "CT"), ("brain1", "MR")):
        windowed, _, _ = evalset.load_volume(name, modality)
        for z in range(windowed.shape[2]):
            grey = np.ascontiguousarray(windowed[:, :, z].T)
            yield grey
            yield np.ascontiguousarray(grey[:, ::-1])
    for grey, _ in finetune.training_images("Microscopy"):
        h, w = grey.shape
        for y in range(0, h - 127, 64):
            for x in range(0, w - 127, 64):
                yield np.ascontiguousarray(grey[y:y + 128, x:x + 128])


def cache(args) -> None:
    session = general_encoder_session()
    inputs, targets = [], []
    for grey in training_images():
        _, tensor = ref.preprocess(ref.to_rgb_uint8(grey))
        (embedding,) = session.run(None, {"image": tensor.numpy()})
        inputs.append(tensor.numpy()[0].astype(np.float16))
        targets.append(embedding[0].astype(np.float16))
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(CACHE / "teacher.npz", inputs=np.stack(inputs), targets=np.stack(targets))
    print(f"{len(inputs)} teacher embeddings -> {CACHE / 'teacher.npz'}")


def train(args) -> None:
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    data = np.load(CACHE / "teacher.npz")
    inputs, targets = data["inputs"], data["targets"]
    student = Student("efficientvit_b0")
    optimizer = torch.optim.AdamW(student.parameters(), lr=args.lr, weight_decay=0.01)
    ckpt = CACHE / "student.pt"
    step, losses = 0, []
    if ckpt.exists() and not args.restart:
        state = torch.load(ckpt, map_location="cpu", weights_only=False)
        student.load_state_dict(state["student"])
        optimizer.load_state_dict(state["optimizer"])
        step, losses = state["step"], state["losses"]
    rng = np.random.default_rng(step)
    student.train()
    started = time.time()
    while time.time() - started < args.minutes * 60:
        pick = rng.choice(len(inputs), size=args.batch)
        x = torch.from_numpy(inputs[pick].astype(np.float32))
        y = torch.from_numpy(targets[pick].astype(np.float32))
        loss = F.mse_loss(student(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        step += 1
        if step % 50 == 0:
            print(f"step {step} loss {np.mean(losses[-50:]):.4f} ({time.time() - started:.0f} s)", flush=True)
    torch.save({"student": student.state_dict(), "optimizer": optimizer.state_dict(), "step": step, "losses": losses}, ckpt)
    RUNS.parent.mkdir(parents=True, exist_ok=True)
    with RUNS.open("a") as log:
        log.write(json.dumps({"date": time.strftime("%Y-%m-%d"), "command": " ".join(sys.argv), "images": int(len(inputs)),
                              "data_sha256": sha256_file(CACHE / "teacher.npz"), "steps": step, "batch": args.batch,
                              "lr": args.lr, "loss_first50": float(np.mean(losses[:50])), "loss_last50": float(np.mean(losses[-50:])),
                              "seconds_this_run": round(time.time() - started, 1)}) + "\n")


def load_student() -> Student:
    student = Student("efficientvit_b0")
    student.load_state_dict(torch.load(CACHE / "student.pt", map_location="cpu", weights_only=False)["student"])
    return student.eval()


def export(args) -> None:
    from .onnx_export import export_graph, run_onnx

    student = load_student()
    image = torch.rand(1, 3, 256, 256)
    graph = export_graph(student, (image,), ["image"], ["embedding"])
    data = graph.SerializeToString(deterministic=True)
    path = CACHE / "student.onnx"
    path.write_bytes(data)
    with torch.no_grad():
        expected = student(image).numpy()
    (got,) = run_onnx(data, {"image": image.numpy()})
    print(f"{path}: {len(data)} bytes, onnxruntime vs PyTorch max |diff| {float(np.abs(got - expected).max()):.1e}")
    # A manifest for daftseg (tract): the student with LiteMedSAM's decoder, to run
    # `daftseg --manifest models/.cache/distill/manifest.json bench --model efficientvit-student`.
    general = general_entry()
    entry = {**general, "id": "efficientvit-student", "name": "EfficientViT-B0 student (not shipped)", "role": "candidate",
             "architecture": "efficientvit-b0-sam-neck",
             "encoder": {"file": "student.onnx", "sha256": sha256_file(path), "bytes": len(data)},
             "decoder": {**general["decoder"], "file": f"../../{general['decoder']['file']}"}}
    general = {**general, "encoder": {**general["encoder"], "file": f"../../{general['encoder']['file']}"},
               "decoder": entry["decoder"]}
    (CACHE / "manifest.json").write_text(json.dumps({"version": 1, "models": [general, entry]}, indent=1))


def evaluate(args) -> None:
    torch.set_num_threads(1)
    net = ref.load_litemedsam(fp16_weights=True)
    decoder = ref.Decoder(net, fp16_constants=True).eval()
    teacher, student = net.image_encoder.eval(), load_student()
    split = json.loads((fast_encoders.DATA / "split.json").read_text())
    ious, seconds = [], []
    for case in [c for c in split["heldout"] if c.startswith("2D")]:
        with np.load(fast_encoders.DATA / "imgs" / f"{case}.npz") as npz:
            img, boxes = npz["imgs"], npz["boxes"]
        reference = fast_encoders.masks(decoder, fast_encoders.embed(teacher, img, 256), img, boxes)
        started = time.perf_counter()
        embedding = fast_encoders.embed(student, img, 256)
        seconds.append(time.perf_counter() - started)
        ious += [fast_encoders.iou(a, b) for a, b in zip(fast_encoders.masks(decoder, embedding, img, boxes), reference)]
    mean, worst = statistics.mean(ious), min(ious)
    print(f"student: {len(ious)} held-out boxes, mean IoU {mean:.3f}, worst {worst:.3f}, "
          f"encoder {statistics.mean(seconds):.3f} s (PyTorch, 1 thread); gate {'passed' if mean >= 0.85 and worst >= 0.6 else 'not passed'}")


BUNDLE = Path(__file__).resolve().parent / ".cache" / "gpu-bundle"
# The patients the gate and docs/EVALUATION.md hold out: never a training image.
HELDOUT_SOURCES = {"pyradiomics lung2", "pyradiomics brain2", "pyradiomics breast1", "stardist img2d", "stardist img3d"}


def to_canvas(img_3c: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """HxWx3 uint8 -> resized to 256 on its longest side (the app's resize), top-left on a
    256x256x3 canvas, and its resized size."""
    resized = ref.resize_longest_side(img_3c, 256)
    canvas = np.zeros((256, 256, 3), np.uint8)
    canvas[:resized.shape[0], :resized.shape[1]] = resized
    return canvas, resized.shape[:2]


def strip_weights(trace, onnx_path: Path, out: Path, onnx_name: str) -> None:
    """The trace without the weights the repository's ONNX file already holds: each such tensor is
    zeroed (the zip compresses it away) and named in weights.json with the initializer that holds
    it (transposed where the export transposed it); gpu_distill.load_trace puts them back. So the
    bundle does not carry the teacher a second time."""
    import io
    import zipfile

    import onnx
    from onnx import numpy_helper

    index = {}
    for init in onnx.load(str(onnx_path)).graph.initializer:
        array = numpy_helper.to_array(init)
        if array.dtype == np.float16:
            index.setdefault((array.shape, array.tobytes()), (init.name, False))
            if array.ndim == 2:
                index.setdefault((array.T.shape, np.ascontiguousarray(array.T).tobytes()), (init.name, True))
    mapping, kept = {}, 0
    with torch.no_grad():
        for key, tensor in trace.state_dict().items():
            if tensor.dtype != torch.float16:
                continue
            found = index.get((tuple(tensor.shape), tensor.numpy().tobytes()))
            if found:
                mapping[key] = found
                tensor.zero_()
            else:
                kept += tensor.numel()
    buffer = io.BytesIO()
    torch.jit.save(trace, buffer)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("trace.pt", buffer.getvalue())
        archive.writestr("weights.json", json.dumps({"onnx": onnx_name, "onnx_sha256": sha256_file(onnx_path),
                                                     "tensors": mapping}))
    print(f"{out.name}: {len(mapping)} tensors from {onnx_name}, {kept} values kept in the trace")


def bundle(args) -> None:
    """models/.cache/gpu-bundle/: what models/gpu_distill.py needs besides this repository (see
    its docstring). The traces are checked against PyTorch before they are written."""
    from . import route_content

    BUNDLE.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    net = ref.load_litemedsam(fp16_weights=True)
    encoder, decoder = ref.Encoder(net).eval(), ref.Decoder(net, fp16_constants=True).eval()
    image, box = torch.rand(1, 3, 256, 256), torch.tensor([[40.0, 60.0, 180.0, 200.0]])
    with torch.no_grad():
        embedding = encoder(image)
        logits, _ = decoder(embedding, box)
        traces = {"teacher": torch.jit.trace(encoder, (image,)), "decoder": torch.jit.trace(decoder, (embedding, box))}
        general = general_entry()
        for name, trace in traces.items():
            trace.half()  # the weights are fp16-rounded already: stored in half, run in f32 there
            onnx_file = general["encoder" if name == "teacher" else "decoder"]["file"]
            strip_weights(trace, finetune.MODELS_DIR / onnx_file, BUNDLE / f"{name}.zip", f"models/{onnx_file}")
        teacher = gpu_distill.load_trace(BUNDLE, "teacher", torch.device("cpu"))
        again = gpu_distill.load_trace(BUNDLE, "decoder", torch.device("cpu"))
        diffs = (float((teacher(image) - embedding).abs().max()), float((again(embedding, box)[0] - logits).abs().max()))
    if max(diffs) > 1e-4:
        raise SystemExit(f"the traces differ from PyTorch: {diffs}")
    rng = np.random.default_rng(0)
    greys = [g for i, g in enumerate(training_images()) if i % args.every == 0]  # flips: augmented there
    colour = [img for modality, source, images in route_content.build_sources(rng) if source not in HELDOUT_SOURCES
              for img in images[:args.per_source]]
    canvases, sizes = zip(*(to_canvas(ref.to_rgb_uint8(np.ascontiguousarray(i))) for i in greys + colour))
    split = json.loads((fast_encoders.DATA / "split.json").read_text())
    gate_images, gate_sizes, gate_original, gate_boxes, gate_owner = [], [], [], [], []
    for case in [c for c in split["heldout"] if c.startswith("2D")]:
        with np.load(fast_encoders.DATA / "imgs" / f"{case}.npz") as npz:
            img, boxes = npz["imgs"], npz["boxes"]
        canvas, size = to_canvas(img)
        for b in boxes:
            gate_boxes.append(ref.resize_box_to_256(b, img.shape[:2]).astype(np.float32))
            gate_owner.append(len(gate_images))
        gate_images.append(canvas)
        gate_sizes.append(size)
        gate_original.append(img.shape[:2])
    np.savez_compressed(BUNDLE / "data.npz", images=np.stack(canvases), sizes=np.asarray(sizes, np.int64),
                        gate_images=np.stack(gate_images), gate_sizes=np.asarray(gate_sizes, np.int64),
                        gate_original=np.asarray(gate_original, np.int64), gate_boxes=np.stack(gate_boxes),
                        gate_owner=np.asarray(gate_owner, np.int64))
    total = sum(f.stat().st_size for f in BUNDLE.iterdir())
    print(f"{BUNDLE}: {len(canvases)} training images, {len(gate_images)} held-out images ({len(gate_boxes)} boxes), "
          f"traces within {max(diffs):.1e} of PyTorch, {total / 2**20:.1f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("cache")
    t = sub.add_parser("train")
    t.add_argument("--minutes", type=float, default=10)
    t.add_argument("--batch", type=int, default=8)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--threads", type=int, default=2)
    t.add_argument("--restart", action="store_true")
    sub.add_parser("export")
    sub.add_parser("evaluate")
    b = sub.add_parser("bundle")
    b.add_argument("--per-source", type=int, default=6, help="images per source of the route set")
    b.add_argument("--every", type=int, default=2, help="every n-th training-patient image")
    args = parser.parse_args()
    {"cache": cache, "train": train, "export": export, "evaluate": evaluate, "bundle": bundle}[args.command](args)


if __name__ == "__main__":
    main()
