//! Model files: one safetensors file per model; ONNX files are read too (dispatched by
//! content to [`crate::network::onnx`]), wherever a model file is accepted.
//!
//! Tensors are named `<layer index>.<param>` (`weight`, `bias`, `running_mean`,
//! `running_var`) in PyTorch's layouts, exactly like the state dict of an `nn.Sequential` with
//! the same layer list, so a PyTorch model of a built-in architecture saved with
//! `safetensors.torch.save_file(model.state_dict(), …)` loads as is when the architecture is
//! given by name (its `num_batches_tracked` counters are ignored). The header metadata holds
//! `format = "digitnet"`, `format_version`, the architecture JSON (which includes the input
//! normalisation) and any extra keys the caller adds (e.g. the validation accuracy). A file
//! without digitnet metadata is taken to expect pixels scaled to [0, 1].
//!
//! Files are written atomically: to a temporary file beside the target, synced, renamed, and
//! the folder synced.
//! Reading never trusts a header: the safetensors parser checks every offset against the
//! file's real length before anything is allocated from it.

use crate::error::{Error, Result};
use crate::network::arch::Architecture;
use crate::network::sequential::Sequential;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

/// The `format_version` this build writes and reads.
pub const FORMAT_VERSION: &str = "1";

/// Named 1-d f32 tensors stored beside a model's parameters (a checkpoint's optimizer moments).
pub type ExtraTensors = Vec<(String, Vec<f32>)>;

/// A loaded model and its file's metadata.
pub struct ModelFile {
    pub model: Sequential,
    /// The header metadata (empty for a foreign file).
    pub metadata: HashMap<String, String>,
}

/// Writes `bytes` to `path` atomically (temporary file + fsync + rename).
///
/// The temporary file `.NAME.<pid>.<random>.tmp` beside the target is created only if nothing
/// is there (`O_EXCL`: a planted link is never followed), under a name nobody can guess;
/// temporary files of this target left by a process that no longer runs (killed mid-write)
/// are removed first.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::hash::{BuildHasher, Hasher};
    let file_name = path.file_name().ok_or_else(|| Error::format(path, "not a file path"))?;
    let prefix = format!(".{}.", file_name.to_string_lossy());
    remove_stale_temps(path, &prefix);
    let random = std::collections::hash_map::RandomState::new().build_hasher().finish();
    let tmp = path.with_file_name(format!("{prefix}{}.{random:016x}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        // Make the rename itself durable (best effort: not every platform can open a folder).
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(path, e));
    }
    Ok(())
}

/// Removes `PREFIX<pid>.<random>.tmp` files beside `path` whose process no longer runs (where
/// `/proc` tells), best effort.
fn remove_stale_temps(path: &Path, prefix: &str) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix(prefix).and_then(|r| r.strip_suffix(".tmp")).and_then(|r| r.split('.').next()).and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Serialises `model` with its architecture and `extra` metadata.
pub fn to_bytes(model: &Sequential, extra: &HashMap<String, String>) -> Result<Vec<u8>> {
    to_bytes_with_extra(model, extra, &[])
}

/// As [`to_bytes`], plus extra 1-d f32 tensors (a training checkpoint's optimizer moments).
pub fn to_bytes_with_extra(model: &Sequential, extra: &HashMap<String, String>, tensors: &[(String, Vec<f32>)]) -> Result<Vec<u8>> {
    let mut names = Vec::new();
    let mut buffers: Vec<(Vec<usize>, Vec<u8>)> = Vec::new();
    model.for_each_param(|i, p| {
        names.push(format!("{i}.{}", p.name));
        buffers.push((p.shape.clone(), p.value.iter().flat_map(|v| v.to_le_bytes()).collect()));
    });
    for (name, values) in tensors {
        names.push(name.clone());
        buffers.push((vec![values.len()], values.iter().flat_map(|v| v.to_le_bytes()).collect()));
    }
    let mut views = Vec::with_capacity(names.len());
    for (name, (shape, bytes)) in names.iter().zip(&buffers) {
        let view = TensorView::new(Dtype::F32, shape.clone(), bytes).map_err(|e| Error::config(format!("tensor {name}: {e}")))?;
        views.push((name.clone(), view));
    }
    let mut meta = extra.clone();
    meta.insert("format".into(), "digitnet".into());
    meta.insert("format_version".into(), FORMAT_VERSION.into());
    meta.insert("architecture".into(), serde_json::to_string(model.architecture()).expect("architectures serialise"));
    meta.insert("normalization".into(), serde_json::to_string(&model.architecture().normalization).expect("serialises"));
    safetensors::serialize(views, &Some(meta)).map_err(|e| Error::config(format!("serialising the model: {e}")))
}

/// Saves `model` to `path` atomically.
pub fn save(model: &Sequential, path: &Path, extra: &HashMap<String, String>) -> Result<()> {
    write_atomic(path, &to_bytes(model, extra)?)
}

/// What to say when a training checkpoint is given where a model is expected: the model file
/// saved beside it (`NAME.ckpt.safetensors` → `NAME.safetensors`), or `train --resume`.
fn checkpoint_hint(origin: &Path) -> String {
    let name = origin.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let model = name.strip_suffix(".ckpt.safetensors").map(|stem| origin.with_file_name(format!("{stem}.safetensors")));
    match model {
        Some(m) => format!(
            "this is a training checkpoint, not a model: give the model saved beside it ({}), or continue training with `digitnet train --resume {}`",
            m.display(),
            origin.display()
        ),
        None => {
            format!("this is a training checkpoint, not a model: give the model file, or continue training with `digitnet train --resume {}`", origin.display())
        }
    }
}

/// Loads a model file. `arch` overrides the architecture in the file (and is required for a
/// file without digitnet metadata, such as a PyTorch state dict).
pub fn load(path: &Path, arch: Option<&Architecture>) -> Result<ModelFile> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    from_bytes(&bytes, arch, path)
}

/// Parses a model from bytes (`origin` names it in errors).
///
/// ONNX files (recognised by content, whatever their name) describe their own architecture:
/// giving `arch` for one is an error.
pub fn from_bytes(bytes: &[u8], arch: Option<&Architecture>, origin: &Path) -> Result<ModelFile> {
    if crate::network::onnx::looks_like_onnx(bytes) {
        if arch.is_some() {
            return Err(Error::format(origin, "an ONNX file describes its own architecture; give no architecture (--arch) for it"));
        }
        return crate::network::onnx::from_bytes(bytes, origin);
    }
    Ok(from_bytes_with_extra(bytes, arch, origin, None)?.0)
}

/// As [`from_bytes`], also returning the 1-d f32 tensors whose names start with `prefix`, if
/// one is given (they are not model parameters; without a prefix, any such tensor is an error).
pub fn from_bytes_with_extra(bytes: &[u8], arch: Option<&Architecture>, origin: &Path, prefix: Option<&str>) -> Result<(ModelFile, ExtraTensors)> {
    let is_extra = |name: &str| prefix.is_some_and(|p| name.starts_with(p));
    let bad = |problem: String| Error::format(origin, problem);
    let st = SafeTensors::deserialize(bytes).map_err(|e| bad(format!("neither an ONNX model nor a safetensors model file ({e:?})")))?;
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| bad(format!("not a safetensors model file ({e:?})")))?;
    let metadata = header.metadata().clone().unwrap_or_default();
    let is_digitnet = metadata.get("format").map(String::as_str) == Some("digitnet");
    if metadata.contains_key("run_state") && prefix.is_none() {
        return Err(bad(checkpoint_hint(origin)));
    }
    if is_digitnet {
        let v = metadata.get("format_version").map(String::as_str).unwrap_or("?");
        if v != FORMAT_VERSION {
            return Err(bad(format!("model format version {v}, this build reads version {FORMAT_VERSION}")));
        }
    }
    let arch = match (arch, metadata.get("architecture")) {
        (Some(a), _) => a.clone(),
        (None, Some(text)) if is_digitnet => Architecture::from_json(text, &origin.display().to_string())?,
        (None, _) => return Err(bad("the file names no architecture: give one by name (--arch)".into())),
    };
    // The architecture's sizes and the file's tensors are compared before the network (and
    // its parameters) exist, so a file that asks for an absurd network costs nothing.
    let expected = arch.check().map_err(|e| bad(e.to_string()))?;
    for p in &expected {
        let name = format!("{}.{}", p.layer, p.name);
        let t = st.tensor(&name).map_err(|_| bad(format!("tensor '{name}' is missing: the file was saved for another architecture than '{}'", arch.name)))?;
        if t.dtype() != Dtype::F32 {
            return Err(bad(format!("tensor '{name}' is {:?}, expected F32", t.dtype())));
        }
        if t.shape() != p.shape.as_slice() {
            return Err(bad(format!("tensor '{name}' has shape {:?}, architecture '{}' needs {:?}", t.shape(), arch.name, p.shape)));
        }
    }
    let mut model = Sequential::new(&arch, 0)?;
    let mut used = 0usize;
    let mut failure = None;
    model.for_each_param_mut(|i, _, p| {
        if failure.is_some() {
            return;
        }
        let name = format!("{i}.{}", p.name);
        let t = match st.tensor(&name) {
            Ok(t) => t,
            Err(_) => {
                failure = Some(format!("tensor '{name}' is missing: the file was saved for another architecture than '{}'", arch.name));
                return;
            }
        };
        if t.dtype() != Dtype::F32 {
            failure = Some(format!("tensor '{name}' is {:?}, expected F32", t.dtype()));
            return;
        }
        if t.shape() != p.shape.as_slice() {
            failure = Some(format!("tensor '{name}' has shape {:?}, architecture '{}' needs {:?}", t.shape(), arch.name, p.shape));
            return;
        }
        for (v, b) in p.value.iter_mut().zip(t.data().chunks_exact(4)) {
            *v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
        used += 1;
    });
    if let Some(f) = failure {
        return Err(bad(f));
    }
    let mut extra_tensors = Vec::new();
    for name in st.names() {
        if is_extra(name) {
            let t = st.tensor(name).map_err(|e| bad(format!("tensor '{name}': {e:?}")))?;
            if t.dtype() != Dtype::F32 {
                return Err(bad(format!("tensor '{name}' is {:?}, expected F32", t.dtype())));
            }
            extra_tensors.push((name.clone(), t.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()));
        }
    }
    let extra: Vec<String> = st.names().into_iter().filter(|n| !n.ends_with("num_batches_tracked") && !is_extra(n)).cloned().collect();
    if extra.len() != used {
        let mut known = std::collections::HashSet::new();
        model.for_each_param(|i, p| {
            known.insert(format!("{i}.{}", p.name));
        });
        let unknown: Vec<&String> = extra.iter().filter(|n| !known.contains(*n)).take(3).collect();
        return Err(bad(format!("tensors {unknown:?} do not belong to architecture '{}'", arch.name)));
    }
    let mut non_finite = None;
    model.for_each_param(|i, p| {
        if non_finite.is_none() && p.value.iter().any(|v| !v.is_finite()) {
            non_finite = Some(format!("{i}.{}", p.name));
        }
    });
    if let Some(name) = non_finite {
        return Err(bad(format!("tensor '{name}' holds NaN or infinite values")));
    }
    Ok((ModelFile { model, metadata }, extra_tensors))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::Tensor;

    use crate::layers::Mode;

    fn tmp(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("digitnet-ckpt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    #[test]
    fn save_load_gives_bit_identical_outputs() {
        for name in ["small", "lenet"] {
            let arch = Architecture::builtin(name).unwrap();
            let mut m = Sequential::new(&arch, 11).unwrap();
            // Move the batch-norm running statistics off their defaults so they are tested.
            let x = Tensor::random(&[8, 1, 28, 28], 1);
            m.forward(&x, Mode::Train).unwrap();
            let path = tmp(&format!("{name}.safetensors"));
            let mut extra = HashMap::new();
            extra.insert("val_accuracy".to_string(), "0.5".to_string());
            save(&m, &path, &extra).unwrap();
            let mut loaded = load(&path, None).unwrap();
            assert_eq!(loaded.metadata.get("val_accuracy").map(String::as_str), Some("0.5"));
            let want = m.forward(&x, Mode::Eval).unwrap().clone();
            let got = loaded.model.forward(&x, Mode::Eval).unwrap().clone();
            assert_eq!(want.data, got.data);
        }
    }

    #[test]
    fn garbage_truncated_and_foreign_files_are_errors() {
        let arch = Architecture::builtin("small").unwrap();
        let m = Sequential::new(&arch, 0).unwrap();
        let bytes = to_bytes(&m, &HashMap::new()).unwrap();
        let origin = Path::new("m.safetensors");
        // Garbage, including a header that claims an enormous length.
        assert!(from_bytes(b"hello world, not a model", None, origin).is_err());
        let mut huge = vec![0xff; 8];
        huge.extend_from_slice(b"{}");
        assert!(from_bytes(&huge, None, origin).is_err());
        // Truncated.
        let e = from_bytes(&bytes[..bytes.len() - 10], None, origin).err().unwrap().to_string();
        assert!(e.contains("m.safetensors"), "{e}");
        // For another architecture.
        let lenet = Architecture::builtin("lenet").unwrap();
        let e = from_bytes(&bytes, Some(&lenet), origin).err().unwrap().to_string();
        assert!(e.contains("another architecture") || e.contains("shape"), "{e}");
        // Missing file.
        assert!(load(Path::new("/nonexistent/m.safetensors"), None).is_err());
    }

    /// A foreign (PyTorch-style) file: no metadata, extra num_batches_tracked tensors.
    #[test]
    fn foreign_state_dict_loads_with_arch_by_name() {
        let arch = Architecture::builtin("small").unwrap();
        let m = Sequential::new(&arch, 3).unwrap();
        let mut bufs: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
        m.for_each_param(|i, p| bufs.push((format!("{i}.{}", p.name), p.shape.clone(), p.value.iter().flat_map(|v| v.to_le_bytes()).collect())));
        let nbt = 7i64.to_le_bytes().to_vec();
        bufs.push(("1.num_batches_tracked".into(), vec![], nbt));
        let views: Vec<(String, TensorView)> = bufs
            .iter()
            .map(|(n, s, b)| {
                let dt = if n.ends_with("tracked") { Dtype::I64 } else { Dtype::F32 };
                (n.clone(), TensorView::new(dt, s.clone(), b).unwrap())
            })
            .collect();
        let bytes = safetensors::serialize(views, &None).unwrap();
        assert!(from_bytes(&bytes, None, Path::new("torch.safetensors")).is_err(), "needs --arch");
        let loaded = from_bytes(&bytes, Some(&arch), Path::new("torch.safetensors")).unwrap();
        assert_eq!(loaded.model.architecture().normalization, crate::network::arch::Normalization::default());
    }

    /// A link planted where a temporary file might go is neither followed nor truncated, and
    /// the temporary file a killed process left behind is removed by the next write.
    #[test]
    fn atomic_write_is_safe_from_planted_links_and_cleans_stale_temps() {
        let dir = tmp("atomic-links");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("m.safetensors");
        let victim = dir.join("victim.txt");
        std::fs::write(&victim, b"precious").unwrap();
        // The old predictable names, and a stale one of a process that cannot exist.
        let planted = dir.join(format!(".m.safetensors.{}.tmp", std::process::id()));
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        let stale = dir.join(".m.safetensors.4294967295.0123456789abcdef.tmp");
        std::fs::write(&stale, vec![0u8; 1000]).unwrap();
        write_atomic(&path, b"model").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"model");
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        assert!(!stale.exists(), "the stale temporary file is still there");
    }

    #[test]
    fn atomic_write_leaves_no_temp_file() {
        // A folder of its own: the other tests' saves leave temporary files in theirs while
        // they run.
        let dir = tmp("atomic");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("atomic.bin");
        write_atomic(&path, b"abc").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"abc");
        let leftovers: Vec<_> =
            std::fs::read_dir(path.parent().unwrap()).unwrap().filter_map(|e| e.ok()).filter(|e| e.file_name().to_string_lossy().ends_with(".tmp")).collect();
        assert!(leftovers.is_empty());
        assert!(write_atomic(Path::new("/nonexistent-dir/x.bin"), b"abc").is_err());
    }
}
