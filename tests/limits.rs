//! Absurd sizes are refused before anything is allocated from them (issue 18): architecture
//! JSON and model files whose embedded architecture asks for billions of parameters, sizes
//! that overflow, "same" padding around a dilated kernel wider than the input. A global
//! allocator records the largest single allocation, which must stay small (tens of MB) for
//! every rejected input; without the checks these inputs aborted the process or allocated GBs.

use digitnet::network::arch::{Architecture, LayerSpec, Task};
use digitnet::network::model_file;
use digitnet::network::sequential::Sequential;
use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

struct Recording;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only records sizes.
unsafe impl GlobalAlloc for Recording {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Recording = Recording;

/// The tests share the record, so they take turns.
static TURN: Mutex<()> = Mutex::new(());

/// 32 MB: far above anything a rejected input needs, far below what the absurd ones ask.
const BOUND: usize = 32 << 20;

/// Runs `f`, which must fail, and checks that no single allocation on the way exceeded
/// [`BOUND`]; returns the error message.
fn rejected_cheaply<T>(what: &str, f: impl FnOnce() -> digitnet::Result<T>) -> String {
    LARGEST.store(0, Ordering::Relaxed);
    let result = f();
    let largest = LARGEST.load(Ordering::Relaxed);
    let message = match result {
        Ok(_) => panic!("{what}: accepted"),
        Err(e) => e.to_string(),
    };
    assert!(largest < BOUND, "{what}: allocated {largest} bytes at once before '{message}'");
    message
}

fn tiny(layers: &str, input: &str) -> String {
    format!(r#"{{"name": "t", "input": {input}, "classes": ["0","1","2","3","4","5","6","7","8","9"], "layers": {layers}}}"#)
}

#[test]
fn absurd_architectures_are_refused_before_allocating() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let cases = [
        // 10¹¹ outputs: 4.5e18 bytes of weights and gradients.
        (
            tiny(r#"[{"type": "flatten"}, {"type": "dense", "out_features": 100000000000}, {"type": "dense", "out_features": 10}]"#, "[1, 28, 28]"),
            "out_features",
        ),
        // Fits the size limit, not the parameter limit: 784 × 1,000,000 weights.
        (tiny(r#"[{"type": "flatten"}, {"type": "dense", "out_features": 1000000}, {"type": "dense", "out_features": 10}]"#, "[1, 28, 28]"), "parameters"),
        // Sizes that overflow 32 bits (and whose product overflows 64).
        (tiny(r#"[{"type": "flatten"}, {"type": "dense", "out_features": 10}]"#, "[1, 4294967297, 28]"), "input size"),
        (tiny(r#"[{"type": "flatten"}, {"type": "dense", "out_features": 10}]"#, "[1048576, 1048576, 1048576]"), "activations"),
        // Channels whose weights overflow usize: 2⁴⁰ · 2⁴⁰.
        (
            tiny(
                r#"[{"type": "conv2d", "out_channels": 1099511627776, "kernel": 1}, {"type": "flatten"}, {"type": "dense", "out_features": 10}]"#,
                "[1, 4, 4]",
            ),
            "out_channels",
        ),
        // A kernel and dilation whose product overflows.
        (
            tiny(
                r#"[{"type": "conv2d", "out_channels": 2, "kernel": 1048576, "dilation": 1048576, "padding": 1}, {"type": "flatten"}, {"type": "dense", "out_features": 10}]"#,
                "[1, 4, 4]",
            ),
            "fit",
        ),
        // A huge im2col workspace: 64 channels × 31×31 kernel × 64² output pixels.
        (
            tiny(
                r#"[{"type": "conv2d", "out_channels": 2, "kernel": 31, "padding": "same"}, {"type": "flatten"}, {"type": "dense", "out_features": 10}]"#,
                "[64, 64, 64]",
            ),
            "activations",
        ),
        // "same" padding around a dilated kernel wider than the input (an index panic in im2col).
        (
            tiny(
                r#"[{"type": "conv2d", "out_channels": 2, "kernel": 3, "dilation": 40, "padding": "same"}, {"type": "flatten"}, {"type": "dense", "out_features": 10}]"#,
                "[1, 28, 28]",
            ),
            "same",
        ),
    ];
    for (json, want) in &cases {
        let arch = Architecture::from_json(json, "a.json").unwrap();
        let e = rejected_cheaply(json, || Sequential::new(&arch, 0));
        assert!(e.contains(want), "{json}: '{e}' should mention '{want}'");
    }
    // Too many layers.
    let many = format!("[{}{{\"type\": \"flatten\"}}, {{\"type\": \"dense\", \"out_features\": 10}}]", r#"{"type": "relu"}, "#.repeat(2000));
    let arch = Architecture::from_json(&tiny(&many, "[1, 28, 28]"), "a.json").unwrap();
    let e = rejected_cheaply("2,002 layers", || Sequential::new(&arch, 0));
    assert!(e.contains("layers"), "{e}");
}

/// The same checks behind a model file, and a file's tensors compared with its architecture
/// before the network is built: a small file whose last dense layer claims 2,500,000 outputs.
#[test]
fn model_files_with_absurd_architectures_are_refused_before_allocating() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let small = Architecture::builtin("small").unwrap();
    let model = Sequential::new(&small, 0).unwrap();
    let bytes = model_file::to_bytes(&model, &HashMap::new()).unwrap();
    let with_arch = |arch: &Architecture| -> Vec<u8> {
        let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
        let mut meta = header.metadata().clone().unwrap();
        meta.insert("architecture".into(), serde_json::to_string(arch).unwrap());
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        safetensors::serialize(st.tensors(), &Some(meta)).unwrap()
    };
    // The last dense layer claims 2,500,000 outputs.
    let mut wide = small.clone();
    *wide.layers.last_mut().unwrap() = LayerSpec::Dense { out_features: 2_500_000, bias: true };
    let e = rejected_cheaply("2,500,000 outputs", || model_file::from_bytes(&with_arch(&wide), None, Path::new("wide.safetensors")));
    assert!(e.contains("wide.safetensors") && e.contains("2500000"), "{e}");
    // Within every limit (39 million weights), but not the file's tensors: compared before
    // the network's 300 MB of parameters and gradients exist.
    let mut wide = small.clone();
    *wide.layers.last_mut().unwrap() = LayerSpec::Dense { out_features: 200_000, bias: true };
    wide.layers.push(LayerSpec::Dense { out_features: 1, bias: true });
    wide.task = Task::Regression;
    wide.classes.clear();
    let e = rejected_cheaply("200,000 outputs", || model_file::from_bytes(&with_arch(&wide), None, Path::new("wide.safetensors")));
    assert!(e.contains("wide.safetensors") && e.contains("shape"), "{e}");
    // Another input size: the first dense layer's weights no longer fit.
    let mut wider = small.clone();
    wider.input = [1, 32, 32];
    let e = rejected_cheaply("input 32×32", || model_file::from_bytes(&with_arch(&wider), None, Path::new("m.safetensors")));
    assert!(e.contains("shape"), "{e}");
    // An input that overflows.
    let mut huge = small.clone();
    huge.input = [1, 4294967297, 28];
    let e = rejected_cheaply("input 2³²+1", || model_file::from_bytes(&with_arch(&huge), None, Path::new("m.safetensors")));
    assert!(e.contains("m.safetensors") && e.contains("input size"), "{e}");
    // The untouched file still loads.
    model_file::from_bytes(&bytes, None, Path::new("m.safetensors")).unwrap();
}

/// The shapes the checks promise are the shapes the network holds, for every built-in.
#[test]
fn checked_parameter_shapes_are_the_networks() {
    for name in digitnet::network::arch::BUILTIN_NAMES {
        let arch = Architecture::builtin(name).unwrap().with_dropout(0.25).unwrap();
        let promised: Vec<(usize, &str, Vec<usize>)> = arch.check().unwrap().into_iter().map(|p| (p.layer, p.name, p.shape)).collect();
        let mut held = Vec::new();
        Sequential::new(&arch, 0).unwrap().for_each_param(|i, p| held.push((i, p.name, p.shape.clone())));
        assert_eq!(promised, held, "{name}");
    }
}

// ---------------------------------------------------------------------------------------------
// Seeded mutation fuzzing on stable Rust: a few hundred mutants of each input kind, seeded with
// the cases above, each of which must give a result or an error — never a panic, and never an
// allocation over the bound. Deterministic (fixed seeds), so a failure is reproducible.
// ---------------------------------------------------------------------------------------------

use digitnet::init::Rng;
use digitnet::layers::Mode;
use digitnet::tensor::Tensor;

/// Sizes that have broken things before: zero, one, small, the input size, 32-bit overflow,
/// and the absurd.
const NASTY: &[&str] = &["0", "1", "2", "3", "5", "28", "40", "1000", "1048577", "2500000", "4294967297", "100000000000", "18446744073709551615"];

/// `template` with every number replaced, at random, by itself or a nasty one.
fn mutate_numbers(template: &str, rng: &mut Rng) -> String {
    let mut out = String::new();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            let mut number = c.to_string();
            while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                number.push(d);
                chars.next();
            }
            out += if rng.below(3) == 0 { NASTY[rng.below(NASTY.len())] } else { &number };
        } else {
            out.push(c);
        }
    }
    out
}

/// Runs `f` and turns a panic into a test failure naming `what`; when `f` says the input was
/// rejected (false), no allocation on the way may have reached [`BOUND`]. (An accepted
/// network may be large, within the documented limits.)
fn no_panic(what: &str, f: impl FnOnce() -> bool) {
    LARGEST.store(0, Ordering::Relaxed);
    let accepted = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(accepted) => accepted,
        Err(_) => panic!("panicked on {what}"),
    };
    let largest = LARGEST.load(Ordering::Relaxed);
    assert!(accepted || largest < BOUND, "{what}: rejected, but allocated {largest} bytes at once");
}

#[test]
fn fuzz_architecture_json() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let templates = [
        tiny(
            r#"[{"type": "conv2d", "out_channels": 4, "kernel": 3, "stride": 1, "padding": "same", "dilation": 1}, {"type": "batch_norm"}, {"type": "relu"}, {"type": "max_pool2d", "kernel": 2, "stride": 2}, {"type": "conv2d", "out_channels": 4, "kernel": [3, 2], "padding": [1, 0], "dilation": 2}, {"type": "avg_pool2d", "kernel": 2}, {"type": "flatten"}, {"type": "dense", "out_features": 10}]"#,
            "[1, 28, 28]",
        ),
        tiny(
            r#"[{"type": "conv2d", "out_channels": 2, "kernel": 3, "dilation": 40, "padding": "same"}, {"type": "flatten"}, {"type": "dense", "out_features": 10}]"#,
            "[1, 28, 28]",
        ),
        tiny(
            r#"[{"type": "conv2d", "out_channels": 2, "kernel": 3, "dilation": 5, "padding": 5, "stride": 2}, {"type": "flatten"}, {"type": "dense", "out_features": 10}]"#,
            "[1, 3, 3]",
        ),
        tiny(r#"[{"type": "flatten"}, {"type": "dense", "out_features": 100}, {"type": "relu"}, {"type": "dense", "out_features": 10}]"#, "[1, 28, 28]"),
    ];
    let mut rng = Rng::new(18);
    for template in &templates {
        for _ in 0..150 {
            let json = mutate_numbers(template, &mut rng);
            no_panic(&json, || {
                let Ok(arch) = Architecture::from_json(&json, "fuzz.json") else { return false };
                let Ok(mut model) = Sequential::new(&arch, 0) else { return false };
                // What was accepted also runs.
                let x = Tensor::random(&[1, arch.input[0], arch.input[1], arch.input[2]], 1);
                let _ = model.forward(&x, Mode::Eval);
                true
            });
        }
    }
}

#[test]
fn fuzz_model_files() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let model = Sequential::new(&Architecture::builtin("small").unwrap(), 0).unwrap();
    let bytes = model_file::to_bytes(&model, &HashMap::new()).unwrap();
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header = String::from_utf8(bytes[8..8 + header_len].to_vec()).unwrap();
    let mut rng = Rng::new(18);
    for i in 0..400 {
        let mutant = match i % 4 {
            // The header's numbers (offsets, shapes, the architecture's sizes) changed.
            0 | 1 => {
                let h = mutate_numbers(&header, &mut rng);
                let mut m = (h.len() as u64).to_le_bytes().to_vec();
                m.extend_from_slice(h.as_bytes());
                m.extend_from_slice(&bytes[8 + header_len..]);
                m
            }
            // A few bytes anywhere flipped.
            2 => {
                let mut m = bytes.clone();
                for _ in 0..1 + rng.below(8) {
                    let at = rng.below(m.len());
                    m[at] ^= 1 << rng.below(8);
                }
                m
            }
            // Cut short.
            _ => bytes[..rng.below(bytes.len())].to_vec(),
        };
        no_panic(&format!("model-file mutant {i}"), || {
            let Ok(mut f) = model_file::from_bytes(&mutant, None, Path::new("fuzz.safetensors")) else { return false };
            let input = f.model.architecture().input;
            let _ = f.model.forward(&Tensor::random(&[1, input[0], input[1], input[2]], 1), Mode::Eval);
            true
        });
    }
}

#[test]
fn fuzz_idx_files() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    // Three 4×4 images: magic, dimensions, pixels.
    let mut bytes = vec![0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 4];
    bytes.extend((0..48).map(|i| i as u8));
    let mut rng = Rng::new(18);
    for i in 0..400 {
        let mut m = bytes.clone();
        if i % 3 == 2 {
            m.truncate(rng.below(m.len()));
        } else {
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(16.min(m.len()));
                m[at] = [0, 1, 3, 4, 8, 0x0d, 0x7f, 0xff][rng.below(8)];
            }
        }
        no_panic(&format!("IDX mutant {i}: {:?}", &m[..16.min(m.len())]), || digitnet::data::idx::parse(&m, Path::new("fuzz-idx")).is_ok());
    }
}
