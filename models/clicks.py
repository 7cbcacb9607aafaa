"""Click refinement: does LiteMedSAM's prompt encoder use clicks well? Measured on the evaluation
set's 2D cases (models/.cache/eval, with ground truth) with the CVPR 2025 interactive protocol;
and the click embeddings trained on the training patients when it does not.

    models/.venv/bin/python -m models clicks evaluate [--embeddings FILE]   # the table
    models/.venv/bin/python -m models clicks train                          # click embeddings
    models/.venv/bin/python -m models clicks golden --embeddings FILE       # the Rust tests' fixture

Training (`train`): only the prompt encoder's two click embeddings (foreground, background: 2 x
256 numbers) learn; the box's corner embeddings, the positional encoding and the mask decoder
stay LiteMedSAM's, so a box alone gives exactly what it gave before, and the model ships as one
decoder. Data: the cached teacher embeddings of the training patients only (models/finetune.py
cache: CT lung1, MR brain1, stardist's top half, with flips), boxes jittered by up to 5 px, then
1 to 5 clicks simulated with the protocol below on the model being trained; Dice + BCE on the
low-resolution logits after the last click. Logged to models/runs/clicks.jsonl.

Per object: the box first (as today), then up to 5 clicks, each at the centre of the largest error
region (the pixel farthest inside the missed or the over-segmented area, by a Euclidean distance
transform): a foreground click where the model missed, a background click where it
over-segmented. Every click so far goes to the decoder with the box (SAM's prompt encoder: clicks,
then the box's two corners); no mask prompt. Scores (the challenge's DSC and NSD) after 0, 1, 3
and 5 clicks, per modality and per split (train / held-out patients, split.json). Writes
models/.cache/clicks/scores.json and prints the table for docs/EVALUATION.md.

`PointDecoder` (models/litemedsam.py) is the decoder with points the engine exports
(models/export.py): points `[1, N, 2]` in the 256 frame with labels `[1, N]` (0 background, 1
foreground, 2 and 3 the box's corners); a box alone is N = 2 and gives exactly the box decoder's
output.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy.ndimage import distance_transform_edt

from . import litemedsam as ref
from .decoder_training import CLICK_EMBEDDINGS, TEACHER_CACHE, dice_bce, jittered_boxes
from .litemedsam import PointDecoder, load_click_embeddings
from .metrics_reference import score_case

# surface-distance 0.1 (the challenge's metric) still says np.Inf, which numpy 2 removed; it
# reaches it when a prediction is empty (a click can empty a mask).
if "Inf" not in np.__dict__:
    np.Inf = np.inf

ROOT = Path(__file__).resolve().parent.parent
EVAL = ROOT / "models" / ".cache" / "eval"
OUT = ROOT / "models" / ".cache" / "clicks"
REPORTED = (0, 1, 3, 5)


def prompt(box256: np.ndarray, clicks: list, ratio: float):
    """Clicks (x, y, positive) in image pixels and the box in the 256 frame as (points, labels)."""
    points = [[x * ratio, y * ratio] for x, y, _ in clicks] + [list(box256[:2]), list(box256[2:])]
    labels = [1.0 if positive else 0.0 for _, _, positive in clicks] + [2.0, 3.0]
    return torch.tensor([points], dtype=torch.float32), torch.tensor([labels], dtype=torch.float32)


def next_click(pred: np.ndarray, gt: np.ndarray):
    """The CVPR 2025 protocol's click: the centre of the largest error region (farthest from its
    border, the image's edge counting as border), positive where the model missed. None when
    the mask is exact."""
    best = None
    for region, positive in ((gt & ~pred, True), (pred & ~gt, False)):
        if not region.any():
            continue
        distance = distance_transform_edt(np.pad(region, 1))[1:-1, 1:-1]
        y, x = np.unravel_index(np.argmax(distance), distance.shape)
        if best is None or distance[y, x] > best[0]:
            best = (distance[y, x], int(x), int(y), positive)
    return None if best is None else best[1:]


@torch.no_grad()
def run_case(encoder, decoder, case: dict, max_clicks: int):
    """Label maps after 0..max_clicks clicks, each object refined on its own."""
    img = ref.to_rgb_uint8(case["imgs"])
    gts = case["gts"]
    H, W = img.shape[:2]
    img_256, tensor = ref.preprocess(img)
    newh, neww = img_256.shape[:2]
    embedding = encoder(tensor)
    ratio = ref.IMAGE_SIZE / max(H, W)
    segs = [np.zeros((H, W), dtype=np.uint16) for _ in range(max_clicks + 1)]
    for label, box in enumerate(case["boxes"], start=1):
        gt = gts == label
        box256 = ref.resize_box_to_256(box, (H, W)).astype(np.float32)
        clicks = []
        pred = None
        for k in range(max_clicks + 1):
            if k > 0:
                click = next_click(pred, gt)
                if click is not None:
                    clicks.append(click)
            if k == 0 or clicks and len(clicks) == k:
                points, labels = prompt(box256, clicks, ratio)
                low_res, _ = decoder(embedding, points, labels)
                pred = ref.postprocess(low_res, (newh, neww), (H, W))[0, 0].numpy() > 0
            segs[k][pred] = label
    return segs


def load(embeddings_file: str | None):
    """LiteMedSAM (fp16-rounded weights) with its encoder and point decoder; the click
    embeddings from `embeddings_file` when given."""
    net = ref.load_litemedsam(fp16_weights=True)
    if embeddings_file:
        load_click_embeddings(net, embeddings_file)
    return net, ref.Encoder(net).eval(), PointDecoder(net, fp16_constants=True).eval()


def evaluate(args) -> None:
    torch.set_num_threads(args.threads)
    _, encoder, decoder = load(args.embeddings)
    split = json.loads((EVAL / "split.json").read_text())
    side = {name: part for part, names in split.items() for name in names}
    rows = []
    started = time.time()
    for path in sorted((EVAL / "imgs").glob("2DBox_*.npz")):
        case = dict(np.load(path))
        case["gts"] = np.load(EVAL / "gts" / path.name)["gts"]
        segs = run_case(encoder, decoder, case, args.clicks)
        modality = path.stem.split("_")[1]
        for k in REPORTED:
            dsc, nsd = score_case(case["gts"], segs[min(k, args.clicks)], None)
            rows.append({"case": path.stem, "modality": modality, "split": side.get(path.stem, "?"), "clicks": k, "dsc": dsc, "nsd": nsd})
        print(f"{path.stem}: " + ", ".join(f"{r['clicks']} clicks DSC {100 * r['dsc']:.2f}" for r in rows[-len(REPORTED):]), flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"scores-{args.tag}.json").write_text(json.dumps({"name": args.name, "rows": rows}, indent=1))
    print(f"\n{len(rows) // len(REPORTED)} cases in {time.time() - started:.0f} s\n")
    print("| model | group | cases | " + " | ".join(f"after {k} clicks" for k in REPORTED) + " |")
    print("|---|---|---|" + "---|" * len(REPORTED))
    groups = [("held-out", lambda r: r["split"] == "heldout"), ("train", lambda r: r["split"] == "train")]
    groups += [(f"held-out {m}", lambda r, m=m: r["split"] == "heldout" and r["modality"] == m) for m in ("CT", "MR", "Microscopy")]
    for group, keep in groups:
        cells = []
        for k in REPORTED:
            chosen = [r for r in rows if keep(r) and r["clicks"] == k]
            cells.append(f"{100 * np.mean([r['dsc'] for r in chosen]):.2f} / {100 * np.mean([r['nsd'] for r in chosen]):.2f}")
        n = len([r for r in rows if keep(r) and r["clicks"] == 0])
        print(f"| {args.name} | {group} | {n} | " + " | ".join(cells) + " |")


def train(args) -> None:
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    net, _, decoder = load(None)
    for p in net.parameters():
        p.requires_grad_(False)
    learned = [net.prompt_encoder.point_embeddings[k].weight for k in (0, 1)]
    for p in learned:
        p.requires_grad_(True)
    data = [np.load(TEACHER_CACHE / f"{m}.npz") for m in ("CT", "MR", "Microscopy")]
    digest = hashlib.sha256()
    for d in data:
        digest.update(d["boxes"].tobytes())
    objects = [(d, i) for d in data for i in range(len(d["boxes"]))]
    optimiser = torch.optim.Adam(learned, lr=args.lr)
    started = time.time()
    losses = []
    for step in range(1, args.steps + 1):
        optimiser.zero_grad()
        total = 0.0
        for _ in range(args.batch):
            d, i = objects[rng.integers(len(objects))]
            embedding = torch.from_numpy(d["embeddings"][d["owner"][i]].astype(np.float32))[None]
            mask = d["masks"][i].astype(bool)
            box = jittered_boxes(d["boxes"][i : i + 1], rng, 5.0)[0].numpy()
            clicks = []
            with torch.no_grad():
                pred = decoder(embedding, *prompt(box, [], 1.0))[0][0, 0].numpy() > 0
                for j in range(int(rng.integers(1, 6))):
                    click = next_click(pred, mask)
                    if click is None:
                        break
                    clicks.append(click)
                    pred = decoder(embedding, *prompt(box, clicks, 1.0))[0][0, 0].numpy() > 0
            if not clicks:
                continue
            logits, _ = decoder(embedding, *prompt(box, clicks, 1.0))
            loss = dice_bce(logits, torch.from_numpy(mask.astype(np.float32))[None, None]) / args.batch
            loss.backward()
            total += float(loss)
        optimiser.step()
        losses.append(total)
        if step % 10 == 0:
            print(f"step {step}: loss {np.mean(losses[-10:]):.4f} ({time.time() - started:.0f} s)", flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    path = CLICK_EMBEDDINGS
    torch.save({f"point_embeddings.{k}": net.prompt_encoder.point_embeddings[k].weight.detach().clone() for k in (0, 1)}, path)
    run = {"command": " ".join(sys.argv), "data_sha256": digest.hexdigest()[:12], "steps": args.steps, "batch": args.batch,
           "lr": args.lr, "seed": args.seed, "final_loss": float(np.mean(losses[-10:])), "seconds": round(time.time() - started),
           "checkpoint_sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    runs = ROOT / "models" / "runs" / "clicks.jsonl"
    with runs.open("a") as f:
        f.write(json.dumps(run) + "\n")
    print(f"wrote {path}; logged to {runs}")


GOLDEN_CASE = "ct_lung"


def golden(args) -> None:
    """tests/fixtures/golden/clicks_ct_lung.npz: PyTorch's masks and logits for a box refined by
    clicks, with the shipped decoder's weights (the click embeddings of `--embeddings`), so the
    Rust tests check the engine's clicks against PyTorch."""
    from PIL import Image

    from .fixtures import FIXTURES

    _, encoder, decoder = load(args.embeddings)
    cases = json.loads((FIXTURES / "cases.json").read_text())
    case = next(c for c in cases if c["name"] == GOLDEN_CASE)
    img = ref.to_rgb_uint8(np.asarray(Image.open(FIXTURES / case["image"])))
    H, W = img.shape[:2]
    box = np.asarray(case["boxes"][0])
    # Two clicks chosen from the masks themselves (no ground truth needed): one off the object on
    # the box mask's rightmost pixel (where a mask leaks), which must take that part away, then
    # one on the object at the mask's centroid.
    img_256, tensor = ref.preprocess(img)
    newh, neww = img_256.shape[:2]
    ratio = ref.IMAGE_SIZE / max(H, W)
    box256 = ref.resize_box_to_256(box, (H, W)).astype(np.float32)
    clicks, segs, logits = [], [], []
    with torch.no_grad():
        embedding = encoder(tensor)
        for k in range(3):
            if k > 0:
                ys, xs = np.nonzero(segs[0])
                if k == 1:
                    right = np.argmax(xs)
                    clicks.append((int(xs[right]), int(ys[right]), False))
                else:
                    clicks.append((int(round(xs.mean())), int(round(ys.mean())), True))
            low_res, _ = decoder(embedding, *prompt(box256, clicks, ratio))
            logits.append(low_res[0, 0, ::4, ::4].numpy().astype(np.float32))
            segs.append((ref.postprocess(low_res, (newh, neww), (H, W))[0, 0].numpy() > 0).astype(np.uint8))
    if segs[1].sum() >= segs[0].sum():
        raise SystemExit("the click off the object did not shrink the mask: pick another")
    path = FIXTURES / "golden" / f"clicks_{GOLDEN_CASE}.npz"
    np.savez_compressed(path, box=box, clicks=np.asarray(clicks, np.float64), segs=np.stack(segs), low_res_logits_every4=np.stack(logits))
    print(f"{path}: masks after 0..{len(clicks)} clicks: " + ", ".join(str(int(s.sum())) for s in segs) + " pixels")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    e = sub.add_parser("evaluate")
    e.add_argument("--clicks", type=int, default=5)
    e.add_argument("--threads", type=int, default=2)
    e.add_argument("--embeddings", help="click embeddings from `train` (default: LiteMedSAM's own)")
    e.add_argument("--name", default="LiteMedSAM")
    e.add_argument("--tag", default="litemedsam")
    g = sub.add_parser("golden")
    g.add_argument("--embeddings", help="click embeddings from `train` (as shipped)")
    t = sub.add_parser("train")
    t.add_argument("--steps", type=int, default=150)
    t.add_argument("--batch", type=int, default=6)
    # The shipped embeddings' run (models/runs/clicks.jsonl): lr 1e-2, one thread.
    t.add_argument("--lr", type=float, default=1e-2)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    {"evaluate": evaluate, "train": train, "golden": golden}[args.command](args)


if __name__ == "__main__":
    main()
