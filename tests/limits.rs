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
