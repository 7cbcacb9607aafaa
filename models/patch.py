"""A modality model as a patch: the tensors its fine-tuning changed, over the shared base decoder.

A patch is an ONNX file with no nodes: its graph holds only initializers, each with the name, data
type and shape of the base decoder's initializer it replaces, and its metadata names the base
file's sha256. daftseg applies it at load time (`src/patch.rs`, native and wasm) and refuses a patch
whose base or tensors do not match. So a fine-tuned decoder that changed 0.7 MB of weights ships
as 0.7 MB, not as another 8.3 MB copy of the decoder.

    models/.venv/bin/python -m models patch make BASE.onnx TUNED.onnx OUT.onnx   # diff two decoders
    models/.venv/bin/python -m models patch apply BASE.onnx PATCH.onnx OUT.onnx  # rebuild the full file

`make` refuses two files whose graphs differ in anything but initializer values (another export,
another architecture): a patch only replaces weights.
"""
from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

BASE_KEY = "daftseg.patch.base_sha256"


def _graph_without_weights(model: onnx.ModelProto) -> bytes:
    g = model.graph
    skeleton = onnx.helper.make_graph(g.node, g.name, g.input, g.output, value_info=g.value_info)
    shapes = [(i.name, i.data_type, tuple(i.dims)) for i in g.initializer]
    return skeleton.SerializeToString(deterministic=True) + repr(shapes).encode()


def make(base: bytes, tuned: bytes) -> tuple[bytes, list[str]]:
    """The patch that turns `base` into `tuned`, and the names of the tensors it replaces."""
    b, t = onnx.load_from_string(base), onnx.load_from_string(tuned)
    if _graph_without_weights(b) != _graph_without_weights(t):
        raise SystemExit("the two decoders differ in more than their weights: a patch cannot express that; ship the file")
    base_weights = {i.name: numpy_helper.to_array(i) for i in b.graph.initializer}
    changed = [i for i in t.graph.initializer if not np.array_equal(numpy_helper.to_array(i), base_weights[i.name])]
    graph = onnx.helper.make_graph([], "daftseg-decoder-patch", [], [], initializer=changed)
    patch = onnx.helper.make_model(graph, producer_name="daftseg models/patch.py", opset_imports=list(b.opset_import))
    patch.ir_version = b.ir_version
    onnx.helper.set_model_props(patch, {BASE_KEY: hashlib.sha256(base).hexdigest()})
    return patch.SerializeToString(deterministic=True), [i.name for i in changed]


def apply(base: bytes, patch: bytes) -> bytes:
    """The full decoder (the reference for src/patch.rs: same checks, same result)."""
    b, p = onnx.load_from_string(base), onnx.load_from_string(patch)
    props = {e.key: e.value for e in p.metadata_props}
    if props.get(BASE_KEY) != hashlib.sha256(base).hexdigest():
        raise SystemExit(f"the patch is for base {props.get(BASE_KEY)}, not this file")
    by_name = {i.name: i for i in b.graph.initializer}
    for tensor in p.graph.initializer:
        target = by_name[tensor.name]
        if target.data_type != tensor.data_type or list(target.dims) != list(tensor.dims):
            raise SystemExit(f"{tensor.name}: type or shape differs from the base")
        target.CopyFrom(tensor)
    return b.SerializeToString(deterministic=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("make", "apply"):
        s = sub.add_parser(name)
        s.add_argument("base", type=Path)
        s.add_argument("other", type=Path, help="the fine-tuned decoder (make) or the patch (apply)")
        s.add_argument("out", type=Path)
    args = parser.parse_args()
    if args.command == "make":
        data, names = make(args.base.read_bytes(), args.other.read_bytes())
        print(f"{len(names)} tensors changed, patch {len(data)} bytes")
    else:
        data = apply(args.base.read_bytes(), args.other.read_bytes())
    args.out.write_bytes(data)


if __name__ == "__main__":
    main()
