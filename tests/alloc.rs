//! A steady-state training step allocates nothing: a counting global allocator watches five
//! steps after three warm-up steps of the same batch size (which size every buffer, on every
//! thread, once). Allocations made inside the GEMM crate's kernel (a small scratch vector per
//! call, see `digitnet::kernels::gemm::in_kernel`) are counted apart: they are the crate's, not ours.

use digitnet::data::{shipped_mnist_dir, Dataset, Split};
use digitnet::layers::Mode;
use digitnet::network::arch::Architecture;
use digitnet::network::loss::SoftmaxCrossEntropy;
use digitnet::network::sequential::Sequential;
use digitnet::training::optim::{Optimizer, OptimizerKind};
use digitnet::training::Workspace;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
static KERNEL_ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

fn count() {
    if digitnet::kernels::gemm::in_kernel() {
        KERNEL_ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    } else {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The steps run inside a rayon pool, as the binary's do: a call from outside the pool goes
/// through rayon's injector queue, which allocates a block every 63 jobs.
#[test]
fn training_step_allocates_nothing() {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    pool.install(steady_state_steps);
}

fn steady_state_steps() {
    let data = Dataset::load_idx(&shipped_mnist_dir(), Split::Test, false).unwrap().take(64 * 8);
    for name in ["small", "lenet", "keras"] {
        let arch = Architecture::builtin(name).unwrap().with_dropout(if name == "keras" { 0.25 } else { 0.0 }).unwrap();
        let mut model = Sequential::new(&arch, 1).unwrap();
        let mut opt = Optimizer::new(OptimizerKind::adam(), 0.0).unwrap();
        let mut loss = SoftmaxCrossEntropy::new(10, None).unwrap();
        let mut ws = Workspace::default();
        let norm = arch.normalization;
        let batches: Vec<Vec<usize>> = (0..8).map(|b| (b * 64..(b + 1) * 64).collect()).collect();
        let mut step = |b: &[usize], ws: &mut Workspace| {
            data.fill_batch(b, &norm, &mut ws.x, &mut ws.labels);
            model.zero_grad();
            let logits = model.forward(&ws.x, Mode::Train).unwrap();
            loss.forward_backward(logits, &ws.labels, Some(&mut ws.dlogits)).unwrap();
            model.backward(&ws.x, &ws.dlogits).unwrap();
            opt.step(&mut model, 1e-3);
        };
        for b in &batches[..3] {
            step(b, &mut ws);
        }
        let before = ALLOCATIONS.load(Ordering::SeqCst);
        let kernel_before = KERNEL_ALLOCATIONS.load(Ordering::SeqCst);
        for b in &batches[3..] {
            step(b, &mut ws);
        }
        let during = ALLOCATIONS.load(Ordering::SeqCst) - before;
        let kernel = KERNEL_ALLOCATIONS.load(Ordering::SeqCst) - kernel_before;
        eprintln!("{name}: {during} allocations of ours, {kernel} inside the GEMM kernel, in 5 steps");
        assert_eq!(during, 0, "{name}: {during} allocations in 5 steady-state steps");
    }
}
