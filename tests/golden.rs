//! Golden tests: daftseg against PyTorch LiteMedSAM (the shipped fp16-rounded weights) on real
//! images from registry packages, made by `models/fixtures.py`. Preprocessed input equal,
//! low-res logits within 1e-3, final masks identical.

mod common;

use std::sync::OnceLock;

use daftseg::contract::MODEL_SIZE;
use daftseg::model::{ModelBytes, SamModel};
use daftseg::native::{load_manifest, load_model};
use daftseg::preprocess::{box_to_model_frame, click_to_model_frame, prepare, resized_size};
use daftseg::prompt::{Click, ObjectPrompt};
use daftseg::resize::resize_area_u8;
use daftseg::rgb::read_image;
use daftseg::segment::Segmenter;

use common::*;

fn model() -> &'static SamModel {
    static MODEL: OnceLock<SamModel> = OnceLock::new();
    MODEL.get_or_init(|| {
        let (manifest, base) = load_manifest(&manifest()).expect("manifest");
        load_model(&manifest, &base, "litemedsam").expect("model")
    })
}

fn zero_clock() -> f64 {
    0.0
}

#[test]
fn area_resize_equals_opencv_on_awkward_sizes() {
    let path = fixture("golden/resize_cases.npz");
    let mut checked = 0;
    for i in 0.. {
        if !has_golden(&path, &format!("image_{i}")) {
            break;
        }
        let image = golden::<u8>(&path, &format!("image_{i}"));
        let expected = golden::<u8>(&path, &format!("resized_{i}"));
        let (h, w) = (image.shape()[0], image.shape()[1]);
        let (nh, nw) = resized_size(h, w, MODEL_SIZE).unwrap();
        assert_eq!(&expected.shape()[..2], &[nh, nw], "case {i}: {h}x{w}");
        let ours = resize_area_u8(image.as_slice().unwrap(), h, w, 3, nh, nw);
        let differing = ours
            .iter()
            .zip(expected.iter())
            .filter(|(a, b)| a != b)
            .count();
        for (j, (a, b)) in ours.iter().zip(expected.iter()).enumerate() {
            if a != b && std::env::var("DEBUG_RESIZE").is_ok() {
                eprintln!(
                    "row {} col {} ch {}: ours {a} cv2 {b}",
                    j / (nw * 3),
                    (j / 3) % nw,
                    j % 3
                );
            }
        }
        assert_eq!(
            differing, 0,
            "case {i}: {h}x{w} -> {nh}x{nw}: {differing} samples differ from cv2"
        );
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} resize cases");
}

#[test]
fn preprocessing_equals_the_reference_on_real_images() {
    for case in cases() {
        let name = case["name"].as_str().unwrap();
        let path = fixture(&format!("golden/{name}.npz"));
        let image =
            read_image(&std::fs::read(fixture(case["image"].as_str().unwrap())).unwrap()).unwrap();
        assert_eq!(
            (image.height as u64, image.width as u64),
            (
                case["height"].as_u64().unwrap(),
                case["width"].as_u64().unwrap()
            )
        );
        let expected = golden::<u8>(&path, "resized");
        let (nh, nw) = (expected.shape()[0], expected.shape()[1]);
        let ours = resize_area_u8(&image.data, image.height, image.width, 3, nh, nw);
        let differing = ours
            .iter()
            .zip(expected.iter())
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(
            differing, 0,
            "{name}: resized image differs in {differing} samples"
        );
        let prepared = prepare(&image).unwrap();
        assert_eq!(
            (prepared.frame.resized_height, prepared.frame.resized_width),
            (nh, nw),
            "{name}"
        );
        if has_golden(&path, "input") {
            let input = golden::<f32>(&path, "input");
            assert_eq!(
                prepared.input.as_slice(),
                input.as_slice().unwrap(),
                "{name}: encoder input differs"
            );
        }
    }
}

#[test]
fn logits_and_masks_equal_pytorch_on_real_images() {
    logits_and_masks_equal_pytorch();
}

#[test]
fn with_two_threads_logits_and_masks_still_equal_pytorch() {
    // The same checks with tract's products split over two threads (this test's thread only):
    // the golden tolerance on logits, identical label maps. One box's logits are compared with
    // one thread's too.
    let image = read_image(&std::fs::read(fixture("images/ct_lung.png")).unwrap()).unwrap();
    let input = prepare(&image).unwrap().input;
    let prompt = box_to_model_frame(boxes(&cases()[0])[0], image.height, image.width);
    let logits = |threads| {
        daftseg::threads::with_threads(threads, || {
            let embedding = model().encode(&input).unwrap();
            model().decode(&embedding, prompt, &[]).unwrap().0
        })
        .unwrap()
    };
    let (one, two) = (logits(1), logits(2));
    let max_diff = one
        .iter()
        .zip(&two)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    eprintln!("ct_lung: max |logit diff| 1 vs 2 threads: {max_diff:e}");
    daftseg::threads::with_threads(2, logits_and_masks_equal_pytorch).unwrap();
}

/// daftseg's fused operators (window attention, depthwise convolution with its batch norm and
/// GELUs, layer norm; src/ops/) repeat tract's arithmetic in tract's order: the encoder gives the
/// embedding tract's own operators give, bit for bit, on one thread and on two (and so every
/// golden result above is unchanged by them).
#[test]
fn the_fused_operators_give_tracts_embedding_bit_for_bit() {
    let (manifest, base) = load_manifest(&manifest()).expect("manifest");
    let entry = manifest.model("litemedsam").expect("litemedsam");
    let read = |file: &str| std::fs::read(base.join(file)).expect("model file");
    let (encoder, decoder) = (read(&entry.encoder.file), read(&entry.decoder.file));
    let files = ModelBytes {
        encoder: &encoder,
        decoder: &decoder,
        decoder_patch: None,
    };
    let tract_only = SamModel::from_bytes_with_ops(entry, files, false).expect("tract only");
    // Every window attention, depthwise convolution and layer norm of TinyViT was replaced.
    let fused = model().fused_ops;
    assert_eq!(
        (fused.attention, fused.depthwise, fused.layer_norm),
        (10, 15, 20),
        "{fused:?}"
    );
    assert_eq!(tract_only.fused_ops, daftseg::ops::Rewrites::default());
    let image = read_image(&std::fs::read(fixture("images/ct_lung.png")).unwrap()).unwrap();
    let input = prepare(&image).unwrap().input;
    let values = |model: &SamModel, threads| {
        daftseg::threads::with_threads(threads, || {
            let embedding = model.encode(&input).unwrap();
            daftseg::contract::f32_values("test", &embedding).unwrap()
        })
        .unwrap()
    };
    let expected = values(&tract_only, 1);
    for threads in [1, 2] {
        let got = values(model(), threads);
        let differing = expected
            .iter()
            .zip(&got)
            .filter(|(a, b)| a.to_bits() != b.to_bits())
            .count();
        assert_eq!(
            differing, 0,
            "{threads} thread(s): values differ from tract's"
        );
    }
}

fn logits_and_masks_equal_pytorch() {
    let model = model();
    let mut segmenter = Segmenter::default();
    for case in cases() {
        let name = case["name"].as_str().unwrap();
        let path = fixture(&format!("golden/{name}.npz"));
        let image =
            read_image(&std::fs::read(fixture(case["image"].as_str().unwrap())).unwrap()).unwrap();
        let boxes = boxes(&case);

        let (encoded, _) = segmenter.encode(model, &image).unwrap();
        let logits = golden::<f32>(&path, "low_res_logits");
        for (k, &prompt) in boxes.iter().enumerate().take(logits.shape()[0]) {
            let b = box_to_model_frame(prompt, image.height, image.width);
            let (ours, _) = model.decode(&encoded.embedding, b, &[]).unwrap();
            let expected = logits.index_axis(ndarray::Axis(0), k);
            // numpy.allclose(atol=1e-3, rtol=1e-3): the encoder sums 37.5 G products, and tract
            // and PyTorch add them in different orders; logits reach magnitudes of 20 and more.
            let worst = ours
                .iter()
                .zip(expected.iter())
                .map(|(a, b)| (a - b).abs() - 1e-3 * b.abs())
                .fold(f32::MIN, f32::max);
            let max_abs = ours
                .iter()
                .zip(expected.iter())
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            eprintln!("{name} box {k}: max |logit diff| {max_abs:.2e}");
            assert!(worst <= 1e-3, "{name} box {k}: low-res logits differ beyond 1e-3 + 1e-3*|ref| (max |diff| {max_abs})");
        }

        let result = segmenter
            .segment(model, &image, &boxes, &zero_clock)
            .unwrap();
        assert!(
            result.timings.cache_hit,
            "{name}: the second use of an image must hit the cache"
        );
        let expected = golden::<u16>(&path, "segs");
        let expected = expected.as_slice().unwrap();
        let differing = result
            .labels
            .labels
            .iter()
            .zip(expected)
            .filter(|(a, b)| a != b)
            .count();
        for label in 1..=boxes.len() as u16 {
            let iou = iou(&result.labels.labels, expected, label);
            assert!(
                iou >= 0.99,
                "{name} label {label}: IoU {iou:.4} against PyTorch"
            );
        }
        assert_eq!(
            differing,
            0,
            "{name}: {differing} of {} pixels differ from PyTorch",
            expected.len()
        );
    }
}

#[test]
fn a_jpeg_gives_the_reference_mask() {
    // What users open: the original JPEG (decoded by us, not by Pillow) still gives the mask.
    let case = cases()
        .into_iter()
        .find(|c| c["name"] == "fundus_retina")
        .unwrap();
    let image = read_image(&std::fs::read(fixture("images/fundus_retina.jpg")).unwrap()).unwrap();
    let result = Segmenter::default()
        .segment(model(), &image, &boxes(&case), &zero_clock)
        .unwrap();
    let expected = golden::<u16>(&fixture("golden/fundus_retina.npz"), "segs");
    let iou = iou(&result.labels.labels, expected.as_slice().unwrap(), 1);
    assert!(
        iou >= 0.99,
        "fundus JPEG: IoU {iou:.4} against PyTorch on Pillow's decoding"
    );
}

#[test]
fn three_d_propagation_equals_the_reference_algorithm() {
    // A real MR volume (pyradiomics brain1) with two 3D boxes, against the challenge's 3D algorithm
    // in PyTorch (models/litemedsam.py segment_3d).
    let path = fixture("golden/3d_mr_brain.npz");
    let bytes = std::fs::read(&path).unwrap();
    let daftseg::challenge::Case::ThreeD(case) = daftseg::challenge::read_case(&bytes).unwrap()
    else {
        panic!("3d_mr_brain.npz must read as a 3D case");
    };
    let mut steps = Vec::new();
    let mut progress = |done: usize, total: usize| {
        steps.push((done, total));
        true
    };
    let mut segmenter = Segmenter::default();
    let labels = segmenter
        .segment_3d(model(), &case.volume, &case.boxes, &mut progress)
        .unwrap();
    let expected = golden::<u16>(&path, "segs");
    let expected = expected.as_slice().unwrap();
    for label in 1..=case.boxes.len() as u16 {
        let inter = labels
            .iter()
            .zip(expected)
            .filter(|(a, b)| **a == label && **b == label)
            .count();
        let sizes = labels.iter().filter(|&&a| a == label).count()
            + expected.iter().filter(|&&b| b == label).count();
        let dsc = 2.0 * inter as f64 / sizes as f64;
        assert!(
            dsc >= 0.98,
            "label {label}: DSC {dsc:.4} against the PyTorch reference"
        );
    }
    let differing = labels.iter().zip(expected).filter(|(a, b)| a != b).count();
    assert_eq!(
        differing, 0,
        "{differing} voxels differ from the PyTorch reference"
    );
    // Progress: one step per slice per box, ending at the total.
    let total: usize = case.boxes.iter().map(|b| (b[5] - b[2] + 1) as usize).sum();
    assert_eq!(steps.last(), Some(&(total, total)));
    // Every slice was encoded once for both boxes (the second box hits the cache).
    let slices = (case.boxes[0][5] - case.boxes[0][2] + 1) as u64;
    assert_eq!(
        segmenter.encoder_runs(),
        slices,
        "each slice must be encoded once"
    );

    // With a cache of two embeddings, far fewer than the slices, the boxes advancing together
    // still encode each slice at most twice (once per sweep) and give the same labels.
    let mut small = Segmenter::new(2 * 4 * 256 * 64 * 64);
    let again = small
        .segment_3d(model(), &case.volume, &case.boxes, &mut |_, _| true)
        .unwrap();
    assert_eq!(again, labels);
    assert!(
        small.encoder_runs() <= 2 * slices,
        "{} encodes for {slices} slices",
        small.encoder_runs()
    );

    // Cancelling stops with an error and nothing else.
    let mut cancel = |done: usize, _| done < 3;
    let cancelled =
        Segmenter::default().segment_3d(model(), &case.volume, &case.boxes, &mut cancel);
    assert!(matches!(cancelled, Err(daftseg::Error::Cancelled)));
}

#[test]
fn zoo_patches_over_the_shared_decoder_equal_pytorch() {
    // Each modality model ships as a patch over the general decoder (models/patch.py). Applied at
    // load, it must give what PyTorch gives with the fine-tuned checkpoint it was made from
    // (tests/fixtures/golden/<id>.npz, written by `models finetune export`).
    let (manifest, base) = load_manifest(&manifest()).unwrap();
    let general = manifest.model("litemedsam").unwrap();
    let patched: Vec<_> = manifest
        .models
        .iter()
        .filter(|m| m.decoder_patch.is_some())
        .collect();
    assert!(
        patched.len() >= 3,
        "the zoo's modality models ship as patches"
    );
    let case = cases()
        .into_iter()
        .find(|c| c["name"] == "microscopy_nuclei")
        .unwrap();
    let image =
        read_image(&std::fs::read(fixture(case["image"].as_str().unwrap())).unwrap()).unwrap();
    let boxes = boxes(&case);
    let mut segmenter = Segmenter::default();
    let (encoded, _) = segmenter.encode(model(), &image).unwrap();
    let prompt = box_to_model_frame(boxes[0], image.height, image.width);
    let (general_logits, _) = model().decode(&encoded.embedding, prompt, &[]).unwrap();
    for entry in patched {
        let id = &entry.id;
        assert_eq!(
            entry.decoder, general.decoder,
            "{id}: the base is the general decoder"
        );
        let patch = entry.decoder_patch.as_ref().unwrap();
        assert!(
            patch.bytes <= 1 << 20,
            "{id}: patch of {} bytes",
            patch.bytes
        );

        let zoo_model = load_model(&manifest, &base, id).unwrap();
        assert_eq!(zoo_model.encoder_sha256, model().encoder_sha256);
        let path = fixture(&format!("golden/{id}.npz"));
        let (ours, _) = zoo_model.decode(&encoded.embedding, prompt, &[]).unwrap();
        // The golden file holds every 4th logit in each direction of the 256x256 grid.
        let expected = golden::<f32>(&path, "low_res_logits_every4");
        assert_eq!(expected.shape(), &[64, 64]);
        let ours_every4 = (0..64).flat_map(|y| (0..64).map(move |x| (y, x)));
        let ours_every4: Vec<f32> = ours_every4
            .map(|(y, x)| ours[y * 4 * 256 + x * 4])
            .collect();
        let worst = ours_every4
            .iter()
            .zip(expected.iter())
            .map(|(a, b)| (a - b).abs() - 1e-3 * b.abs())
            .fold(f32::MIN, f32::max);
        assert!(
            worst <= 1e-3,
            "{id}: logits differ from PyTorch beyond 1e-3 + 1e-3*|ref|"
        );
        // The patch is not a no-op: the fine-tuned decoder differs from the general one.
        let moved = ours
            .iter()
            .zip(&general_logits)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(
            moved > 0.05,
            "{id}: logits within {moved} of the general model's"
        );

        let result = segmenter
            .segment(&zoo_model, &image, &boxes, &zero_clock)
            .unwrap();
        assert!(
            result.timings.cache_hit,
            "{id}: the general model's embedding is shared"
        );
        let expected = golden::<u16>(&path, "segs");
        let differing = result
            .labels
            .labels
            .iter()
            .zip(expected.as_slice().unwrap())
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(differing, 0, "{id}: {differing} pixels differ from PyTorch");
    }

    // Without its patch a modality model does not load (it would be the general model in
    // disguise); with a patch its entry does not list, neither does the general model.
    let entry = manifest.model("daft-microscopy").unwrap();
    let read = |file: &str| std::fs::read(base.join(file)).unwrap();
    let (encoder, decoder) = (read(&entry.encoder.file), read(&entry.decoder.file));
    let patch = read(&entry.decoder_patch.as_ref().unwrap().file);
    let files = |decoder_patch| daftseg::model::ModelBytes {
        encoder: &encoder,
        decoder: &decoder,
        decoder_patch,
    };
    let missing = SamModel::from_bytes(entry, files(None)).err().unwrap();
    assert!(missing.to_string().contains("was not given"), "{missing}");
    let extra = SamModel::from_bytes(general, files(Some(&patch)))
        .err()
        .unwrap();
    assert!(extra.to_string().contains("lists none"), "{extra}");
}

#[test]
fn the_content_router_gives_the_reference_probabilities() {
    // models/route_content.py computed these with onnxruntime and numpy on the same images:
    // src/content.rs's pooling and regression on tract's embedding must give the same numbers.
    let (manifest, _) = load_manifest(&manifest()).unwrap();
    let router = manifest
        .content_router
        .as_ref()
        .expect("the manifest ships a content router");
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("route_reference.json")).unwrap())
            .unwrap();
    let mut segmenter = Segmenter::default();
    for (name, expected) in reference.as_object().unwrap() {
        let image =
            read_image(&std::fs::read(fixture(&format!("images/{name}"))).unwrap()).unwrap();
        let (encoded, _) = segmenter.encode(model(), &image).unwrap();
        let ours = router.probabilities(&encoded.embedding).unwrap();
        assert_eq!(ours.len(), router.classes.len());
        for (class, (modality, p)) in router.classes.iter().zip(ours) {
            assert_eq!(modality, daftseg::modality::Modality::parse(class).unwrap());
            let want = expected[class].as_f64().unwrap();
            assert!((p - want).abs() < 2e-3, "{name} {class}: {p} vs {want}");
        }
    }
}

#[test]
fn slices_encoded_in_idle_time_serve_3d_propagation_without_an_encoder_run() {
    // The browser's background encoding, through the session: the shown slice first, then the
    // box's range in propagation order, one slice per call; afterwards Segment 3D gives the
    // PyTorch reference's labels and runs no encoder.
    let path = fixture("golden/3d_mr_brain.npz");
    let (manifest, base) = load_manifest(&manifest()).unwrap();
    let mut session = daftseg::Session::new(manifest);
    daftseg::native::ensure_loaded(session.models_mut(), &base, "litemedsam").unwrap();
    let info = session
        .open(vec![("brain.npz".into(), std::fs::read(&path).unwrap())])
        .unwrap();
    assert_eq!((info.depth, info.slice), (11, 5));
    let ranges: Vec<(usize, usize)> = info
        .boxes
        .iter()
        .map(|b| (b[2] as usize, b[5] as usize))
        .collect();
    let mut visited = Vec::new();
    while let Some(z) = session.next_to_encode("litemedsam", &ranges).unwrap() {
        assert!(
            !session.encode_slice("litemedsam", z).unwrap(),
            "slice {z} twice"
        );
        visited.push(z);
    }
    // Shown 5; box 1..=9 from its middle 5 up to 9, then down to 1; then the rest outward.
    assert_eq!(visited, [5, 6, 7, 8, 9, 4, 3, 2, 1, 10, 0]);
    assert_eq!(session.encoder_runs(), 11);
    assert!(session
        .encoded_slices("litemedsam")
        .unwrap()
        .iter()
        .all(|&e| e));
    assert!(session
        .store_names("litemedsam", Some(&[0, 5, 10]))
        .unwrap()
        .is_empty());

    let labels = session
        .segment_3d("litemedsam", &info.boxes, &mut |_, _| true)
        .unwrap();
    assert_eq!(session.encoder_runs(), 11, "Segment 3D ran the encoder");
    let expected = golden::<u16>(&path, "segs");
    assert_eq!(labels, expected.as_slice().unwrap());

    // Another window is other pixels: nothing of it is encoded yet.
    let narrower = daftseg::medical::window::Window::Manual {
        level: 100.0,
        width: 120.0,
    };
    session.set_window(&narrower).unwrap();
    assert!(session
        .encoded_slices("litemedsam")
        .unwrap()
        .iter()
        .all(|&e| !e));
    assert_eq!(session.next_to_encode("litemedsam", &[]).unwrap(), Some(5));
    assert_eq!(session.store_names("litemedsam", None).unwrap().len(), 1);
}

#[test]
fn idle_time_stops_when_the_embedding_cache_is_full() {
    let (manifest, base) = load_manifest(&manifest()).unwrap();
    let mut session = daftseg::Session::with_cache_bytes(manifest, 2 * 256 * 64 * 64 * 4);
    daftseg::native::ensure_loaded(session.models_mut(), &base, "litemedsam").unwrap();
    let bytes = std::fs::read(fixture("golden/3d_mr_brain.npz")).unwrap();
    session.open(vec![("brain.npz".into(), bytes)]).unwrap();
    let mut encoded = 0;
    while let Some(z) = session.next_to_encode("litemedsam", &[]).unwrap() {
        session.encode_slice("litemedsam", z).unwrap();
        encoded += 1;
    }
    assert_eq!(encoded, 2, "encoding on would evict slices already encoded");
    let flags = session.encoded_slices("litemedsam").unwrap();
    assert_eq!(flags.iter().filter(|&&e| e).count(), 2);
    assert!(flags[5] && flags[6]);
}

#[test]
fn fp16_embeddings_would_change_golden_masks_so_the_store_keeps_f32() {
    // The persistent store could halve its entries by keeping embeddings as fp16, but only if
    // every golden mask stayed identical. They do not (measured 2026-12-03: 6 pixels over 13
    // boxes differ, in ct_lung, mr_small and mammo_large), so src/store.rs keeps f32. Should a
    // model change make them identical, this fails and the choice can be made again.
    use tract_onnx::prelude::f16;
    let model = model();
    let mut segmenter = Segmenter::default();
    let mut differing = 0;
    for case in cases() {
        let name = case["name"].as_str().unwrap();
        let image =
            read_image(&std::fs::read(fixture(case["image"].as_str().unwrap())).unwrap()).unwrap();
        let (encoded, _) = segmenter.encode(model, &image).unwrap();
        let values = daftseg::contract::f32_values("litemedsam", &encoded.embedding).unwrap();
        let half: Vec<f32> = values.iter().map(|&v| f16::from_f32(v).to_f32()).collect();
        let rounded = daftseg::segment::EncodedImage {
            frame: encoded.frame,
            embedding: model.embedding_from(half).unwrap(),
        };
        for (k, &prompt) in boxes(&case).iter().enumerate() {
            let (a, _) = daftseg::segment::decode_box(model, &encoded, prompt).unwrap();
            let (b, _) = daftseg::segment::decode_box(model, &rounded, prompt).unwrap();
            let d = a.iter().zip(&b).filter(|(x, y)| x != y).count();
            eprintln!("{name} box {k}: {d} pixels differ with an fp16 embedding");
            differing += d;
        }
    }
    assert!(
        differing > 0,
        "fp16 embeddings now give identical masks: the store could keep fp16"
    );
}

#[test]
fn clicks_refine_a_box_as_pytorch_does() {
    // tests/fixtures/golden/clicks_ct_lung.npz (`models clicks golden`): PyTorch's masks and
    // logits (every 4th in each direction) for ct_lung's first box refined by each click, with
    // the shipped decoder's click embeddings.
    let path = fixture("golden/clicks_ct_lung.npz");
    let case = cases()
        .into_iter()
        .find(|c| c["name"] == "ct_lung")
        .unwrap();
    let image =
        read_image(&std::fs::read(fixture(case["image"].as_str().unwrap())).unwrap()).unwrap();
    let b = golden::<i64>(&path, "box");
    let bbox = [b[0], b[1], b[2], b[3]];
    let given = golden::<f64>(&path, "clicks");
    let clicks: Vec<Click> = given
        .outer_iter()
        .map(|c| Click {
            x: c[0],
            y: c[1],
            positive: c[2] != 0.0,
        })
        .collect();
    let segs = golden::<u8>(&path, "segs");
    let logits = golden::<f32>(&path, "low_res_logits_every4");
    let mut segmenter = Segmenter::default();
    let (encoded, _) = segmenter.encode(model(), &image).unwrap();
    for k in 0..=clicks.len() {
        let prompt = ObjectPrompt {
            bbox,
            clicks: clicks[..k].to_vec(),
        };
        let result = segmenter
            .segment_prompts(model(), &image, &[prompt], &zero_clock)
            .unwrap();
        assert!(result.timings.cache_hit, "clicks re-run only the decoder");
        let expected = segs.index_axis(ndarray::Axis(0), k);
        let differ = foreground_differences(
            result.labels.labels.iter().copied(),
            expected.iter().copied(),
        );
        assert_eq!(
            differ, 0,
            "after {k} clicks, {differ} pixels differ from PyTorch"
        );
        let in_frame: Vec<_> = clicks[..k]
            .iter()
            .map(|&c| click_to_model_frame(c, image.height, image.width))
            .collect();
        let frame_box = box_to_model_frame(bbox, image.height, image.width);
        let (ours, _) = model()
            .decode(&encoded.embedding, frame_box, &in_frame)
            .unwrap();
        let expected = logits.index_axis(ndarray::Axis(0), k);
        let worst = (0..64)
            .flat_map(|y| (0..64).map(move |x| (y, x)))
            .map(|(y, x)| {
                (ours[y * 4 * 256 + x * 4] - expected[[y, x]]).abs() - 1e-3 * expected[[y, x]].abs()
            })
            .fold(f32::MIN, f32::max);
        assert!(
            worst <= 1e-3,
            "after {k} clicks: logits differ from PyTorch by {worst} beyond 1e-3 + 1e-3*|ref|"
        );
    }
    // The clicks change the mask (ignoring them would pass the loop above only if they did not).
    let first = segs.index_axis(ndarray::Axis(0), 0);
    let last = segs.index_axis(ndarray::Axis(0), clicks.len());
    assert!(first.iter().zip(last.iter()).any(|(a, b)| a != b));
}
