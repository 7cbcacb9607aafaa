//! Modality models as patches over a shared decoder (`models/patch.py` writes them).
//!
//! A patch is an ONNX file with no nodes: its graph holds only initializers, each replacing the
//! base decoder's initializer of the same name, data type and shape, and its metadata names the
//! sha256 of the base file it was made against. A fine-tuned decoder that changed 0.7 MB of
//! weights then ships as 0.7 MB instead of another full copy of the decoder. Applying one is
//! pure: parsed base + patch in, patched graph out, with every mismatch refused by name (a patch
//! applied to the wrong base would otherwise run and give plausible, wrong masks).

use std::io::Cursor;

use tract_onnx::pb::ModelProto;
use tract_onnx::prelude::*;

use crate::digest::sha256_hex;
use crate::error::{Error, Result};

/// The metadata key holding the base decoder's sha256.
pub const BASE_KEY: &str = "daftseg.patch.base_sha256";

/// Parse an ONNX file's protobuf (no graph building yet).
pub fn parse(id: &str, what: &str, bytes: &[u8]) -> Result<ModelProto> {
    tract_onnx::onnx()
        .proto_model_for_read(&mut Cursor::new(bytes))
        .map_err(|e| Error::model(id, format!("{what}: not an ONNX file ({e:#})")))
}

/// `base` (the decoder's bytes) with `patch`'s tensors in place of its own.
pub fn apply(id: &str, base: &[u8], patch: &[u8]) -> Result<ModelProto> {
    let mut model = parse(id, "decoder", base)?;
    let patch = parse(id, "decoder patch", patch)?;
    let refuse = |why: String| Err(Error::model(id, format!("decoder patch: {why}")));
    let made_for = patch
        .metadata_props
        .iter()
        .find(|p| p.key == BASE_KEY)
        .map(|p| p.value.as_str());
    let base_sha256 = sha256_hex(base);
    match made_for {
        None => return refuse(format!("it does not name its base decoder ({BASE_KEY})")),
        Some(sha) if sha != base_sha256 => {
            return refuse(format!(
                "it was made for the decoder with sha256 {sha}, not this one ({base_sha256})"
            ))
        }
        Some(_) => {}
    }
    let Some(patch_graph) = patch.graph else {
        return refuse("it holds no graph".into());
    };
    if !patch_graph.node.is_empty() {
        return refuse(format!(
            "it holds {} nodes; a patch replaces weights only",
            patch_graph.node.len()
        ));
    }
    let Some(graph) = model.graph.as_mut() else {
        return Err(Error::model(id, "decoder: the ONNX file holds no graph"));
    };
    for tensor in patch_graph.initializer {
        let Some(target) = graph.initializer.iter_mut().find(|t| t.name == tensor.name) else {
            return refuse(format!("the decoder has no tensor '{}'", tensor.name));
        };
        if target.data_type != tensor.data_type || target.dims != tensor.dims {
            return refuse(format!(
                "tensor '{}' is {} {:?} in the patch but {} {:?} in the decoder",
                tensor.name, tensor.data_type, tensor.dims, target.data_type, target.dims
            ));
        }
        *target = tensor;
    }
    Ok(model)
}

/// The inference graph of a parsed ONNX model.
pub fn graph(id: &str, what: &str, proto: &ModelProto) -> Result<InferenceModel> {
    tract_onnx::onnx()
        .model_for_proto_model(proto)
        .map_err(|e| Error::model(id, format!("{what}: {e:#}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;
    use tract_onnx::pb::{GraphProto, StringStringEntryProto, TensorProto};

    const FLOAT: i32 = 1;

    fn tensor(name: &str, dims: &[i64], values: &[f32]) -> TensorProto {
        TensorProto {
            name: name.into(),
            dims: dims.to_vec(),
            data_type: FLOAT,
            float_data: values.to_vec(),
            ..Default::default()
        }
    }

    fn file(initializer: Vec<TensorProto>, base_sha256: Option<&str>) -> Vec<u8> {
        ModelProto {
            graph: Some(GraphProto {
                initializer,
                ..Default::default()
            }),
            metadata_props: base_sha256
                .map(|sha| StringStringEntryProto {
                    key: BASE_KEY.into(),
                    value: sha.into(),
                })
                .into_iter()
                .collect(),
            ..Default::default()
        }
        .encode_to_vec()
    }

    fn base() -> Vec<u8> {
        file(
            vec![tensor("w", &[2], &[1.0, 2.0]), tensor("b", &[1], &[3.0])],
            None,
        )
    }

    #[test]
    fn replaces_named_tensors_and_keeps_the_rest() {
        let base = base();
        let patch = file(
            vec![tensor("w", &[2], &[5.0, 6.0])],
            Some(&sha256_hex(&base)),
        );
        let patched = apply("m", &base, &patch).unwrap();
        let init = &patched.graph.unwrap().initializer;
        assert_eq!(init[0].float_data, [5.0, 6.0]);
        assert_eq!(init[1].float_data, [3.0]);
    }

    #[test]
    fn refuses_another_base_unknown_names_and_other_shapes() {
        let base = base();
        let sha = sha256_hex(&base);
        let cases = [
            (
                file(vec![tensor("w", &[2], &[0.0, 0.0])], None),
                "does not name its base",
            ),
            (
                file(vec![tensor("w", &[2], &[0.0, 0.0])], Some(&"0".repeat(64))),
                "was made for the decoder with sha256 000",
            ),
            (
                file(vec![tensor("x", &[1], &[0.0])], Some(&sha)),
                "no tensor 'x'",
            ),
            (
                file(vec![tensor("w", &[1, 2], &[0.0, 0.0])], Some(&sha)),
                "tensor 'w' is 1 [1, 2] in the patch but 1 [2]",
            ),
            (b"not protobuf at all".to_vec(), "not an ONNX file"),
        ];
        for (patch, expected) in cases {
            let message = apply("daft-x", &base, &patch).unwrap_err().to_string();
            assert!(message.contains(expected), "{message}");
            assert!(message.contains("daft-x"), "{message}");
        }
    }
}
