//! Pieces shared by the subcommands: architecture and data resolution, thread pools.

use anyhow::{bail, Context, Result};
use digitnet::data::{shipped_mnist_dir, Dataset, Split};
use digitnet::network::arch::Architecture;
use std::path::{Path, PathBuf};

/// `--arch`: a built-in name or a JSON file.
pub fn resolve_arch(spec: &str) -> Result<Architecture> {
    Ok(Architecture::resolve(spec)?)
}

/// Runs `f` inside a pool of `threads` workers (0 = one per core). Work started from inside
/// the pool never goes through rayon's injector queue, so training steps allocate nothing.
pub fn in_pool<T: Send>(threads: usize, f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    if threads > 1024 {
        bail!("--threads {threads} is absurd (at most 1024)");
    }
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().context("starting the thread pool")?;
    pool.install(f)
}

/// `--data DIR` or the shipped MNIST (whose checksums are verified).
pub fn load_split(data: Option<&PathBuf>, split: Split) -> Result<Dataset> {
    let (dir, verify) = match data {
        Some(d) => (d.clone(), false),
        None => (shipped_mnist_dir(), true),
    };
    Ok(Dataset::load_idx(&dir, split, verify)?)
}

/// Fits `arch` to the data: the class count comes from the labels (the last Dense layer is
/// resized if it differs), and the image size must match the input.
pub fn fit_arch_to_data(arch: Architecture, data: &Dataset) -> Result<Architecture> {
    Ok(arch.fitted(data.rows, data.cols, data.classes().max(2))?)
}

/// Fails early, before any training, if `dir` cannot be written.
pub fn check_writable(path: &Path) -> Result<()> {
    if path.is_dir() {
        bail!("{} is a directory; give a file name", path.display());
    }
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create output directory {}", dir.display()))?;
    // A fresh name nobody can guess, created only if nothing (not even a link) is there.
    let probe = dir.join(format!(".digitnet-write-test-{}-{:016x}", std::process::id(), unguessable()));
    std::fs::OpenOptions::new().write(true).create_new(true).open(&probe).with_context(|| format!("cannot write to {}", dir.display()))?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

/// 64 random bits (from the standard library's per-process hash keys).
pub fn unguessable() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new().build_hasher().finish()
}

/// As [`check_writable`], for a model `--out`: an existing file there must be a digitnet model
/// (a file of notes is never replaced by a model).
pub fn check_model_out(path: &Path) -> Result<()> {
    check_writable(path)?;
    if std::fs::symlink_metadata(path).is_ok() && !is_digitnet_model(path) {
        bail!("{} exists and is not a digitnet model; refusing to replace it (choose another --out, or remove it first)", path.display());
    }
    Ok(())
}

/// True when `path` is a safetensors file whose metadata says `format = "digitnet"` (only its
/// header is read).
fn is_digitnet_model(path: &Path) -> bool {
    use std::io::Read;
    let Ok(mut f) = std::fs::File::open(path) else { return false };
    let mut len = [0u8; 8];
    if f.read_exact(&mut len).is_err() {
        return false;
    }
    let n = u64::from_le_bytes(len);
    if n > 100_000_000 {
        return false;
    }
    let mut header = Vec::new();
    if f.take(n).read_to_end(&mut header).is_err() {
        return false;
    }
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&header) else { return false };
    v["__metadata__"]["format"] == "digitnet"
}

/// Fails when `out` is the file `input` (by path or after following links): an output never
/// replaces the input it was made from.
pub fn refuse_to_overwrite(input: &Path, out: &Path, flag: &str) -> Result<()> {
    let same = input == out || std::fs::canonicalize(input).ok().is_some_and(|i| std::fs::canonicalize(out).ok() == Some(i));
    if same {
        bail!("{flag} {} is the input image; give another file name", out.display());
    }
    Ok(())
}

/// A file name in `dir` for the output made from `input` — its stem, then `suffix` — that no
/// earlier output of this command took (`x.png`, then `x-2.png`, …: inputs `a/x.png` and
/// `b/x.png` must not overwrite each other's output), and that is not one of the command's
/// `inputs` (an output never replaces an input).
pub fn output_path(dir: &Path, input: &Path, suffix: &str, taken: &mut std::collections::HashSet<PathBuf>, inputs: &[PathBuf]) -> PathBuf {
    let stem = input.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "image".into());
    let same_file =
        |p: &Path| inputs.iter().any(|i| i == p || (std::fs::canonicalize(i).ok().is_some() && std::fs::canonicalize(i).ok() == std::fs::canonicalize(p).ok()));
    let mut k = 1;
    loop {
        let name = if k == 1 { format!("{stem}{suffix}") } else { format!("{stem}-{k}{suffix}") };
        let out = dir.join(name);
        if !same_file(&out) && taken.insert(out.clone()) {
            return out;
        }
        k += 1;
    }
}
