//! `digitnet._digitnet`: the native module of the `digitnet` Python package. Every call goes
//! to the library's public API ([`digitnet::inference::Model`], [`digitnet::training::Run`]);
//! nothing here computes. The engine runs with the GIL released; arrays that are contiguous
//! are read in place; every library error becomes a Python exception carrying the message the
//! command line prints (`digitnet/__init__.py` is the documented API over this module).

use digitnet::inference::{Model, Pixels};
use digitnet::network::arch::Architecture;
use digitnet::network::model_file;
use digitnet::training::Event;
use digitnet::vision::load_luma;
use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::exceptions::{PyFileNotFoundError, PyOSError, PyPermissionError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

mod train;

/// The library's error as a Python exception: a file that is not there is `FileNotFoundError`,
/// other operating-system errors `OSError`, everything else (bad data, bad files, bad
/// settings) `ValueError`; the message is the command line's.
fn py_err(e: digitnet::Error) -> PyErr {
    let message = e.to_string();
    match &e {
        digitnet::Error::Io { cause, .. } => match cause.kind() {
            std::io::ErrorKind::NotFound => PyFileNotFoundError::new_err(message),
            std::io::ErrorKind::PermissionDenied => PyPermissionError::new_err(message),
            _ => PyOSError::new_err(message),
        },
        _ => PyValueError::new_err(message),
    }
}

/// A digitnet model: a network and the input pipeline it was trained with.
#[pyclass(name = "Model", module = "digitnet")]
pub struct PyModel {
    /// One caller at a time: the network keeps its activations between layers.
    inner: Mutex<Model>,
}

impl PyModel {
    fn new(model: Model) -> Self {
        PyModel { inner: Mutex::new(model) }
    }

    fn lock(&self) -> MutexGuard<'_, Model> {
        // The library returns errors rather than panicking; should a panic ever poison the
        // lock, the model itself is still whole (weights are only read here).
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The images of `x` (uint8 0–255 or float32 0–1, `[N, H, W]` or `[N, C, H, W]` matching the
/// model's input `[C, H, W]`), read in place when contiguous, and answered by `f` with the GIL
/// released.
fn with_pixels<T: Send>(x: &Bound<'_, PyAny>, input: [usize; 3], f: impl FnOnce(Pixels<'_>) -> digitnet::Result<T> + Send) -> PyResult<T> {
    let py = x.py();
    let array = x.cast::<PyUntypedArray>().map_err(|_| {
        PyTypeError::new_err(format!(
            "x must be a numpy array of uint8 (0–255) or float32 (0–1) pixels, got {}",
            x.get_type().name().map(|n| n.to_string()).unwrap_or_default()
        ))
    })?;
    let shape = array.shape().to_vec();
    let [c, h, w] = input;
    let fits = match *shape.as_slice() {
        [_, sh, sw] => c == 1 && (sh, sw) == (h, w),
        [_, sc, sh, sw] => (sc, sh, sw) == (c, h, w),
        _ => false,
    };
    if !fits {
        let expected = if c == 1 { format!("[N, {h}, {w}] or [N, 1, {h}, {w}]") } else { format!("[N, {c}, {h}, {w}]") };
        return Err(PyValueError::new_err(format!("x must have shape {expected} for this model, got {shape:?}")));
    }
    let c_order = array.is_c_contiguous();
    if let Ok(a) = array.cast::<PyArrayDyn<u8>>() {
        let a = a.try_readonly().map_err(|e| PyValueError::new_err(e.to_string()))?;
        let mut copy = Vec::new();
        let values = row_major(&a, c_order, &mut copy);
        return py.detach(|| f(Pixels::Bytes(values))).map_err(py_err);
    }
    if let Ok(a) = array.cast::<PyArrayDyn<f32>>() {
        let a = a.try_readonly().map_err(|e| PyValueError::new_err(e.to_string()))?;
        let mut copy = Vec::new();
        let values = row_major(&a, c_order, &mut copy);
        return py.detach(|| f(Pixels::Unit(values))).map_err(py_err);
    }
    Err(PyTypeError::new_err(format!(
        "x must hold uint8 (0–255) or float32 (0–1) pixels, got dtype {} (convert with x.astype(np.float32) or x.astype(np.uint8))",
        array.dtype()
    )))
}

/// The array's values in row-major order: the array's own memory when it is C-contiguous (no
/// copy), else a copy in `copy`. (`as_slice` also accepts Fortran order, whose values are not in
/// the order of the images.)
fn row_major<'a, T: numpy::Element + Copy>(a: &'a PyReadonlyArrayDyn<'_, T>, c_order: bool, copy: &'a mut Vec<T>) -> &'a [T] {
    match a.as_slice() {
        Ok(values) if c_order => values,
        _ => {
            *copy = a.as_array().iter().copied().collect();
            copy
        }
    }
}

/// One file's answer, or its error (a failed file does not stop the others).
type PerFile<T> = Vec<(String, Result<T, String>)>;

/// `f` for every path, with the GIL released.
fn each_file<T: Send>(py: Python<'_>, model: &PyModel, paths: &[PathBuf], mut f: impl FnMut(&mut Model, &Path) -> digitnet::Result<T> + Send) -> PerFile<T> {
    py.detach(|| {
        let mut m = model.lock();
        paths.iter().map(|p| (p.display().to_string(), f(&mut m, p).map_err(|e| e.to_string()))).collect()
    })
}

/// The answers as dicts with the keys of the command line's JSON: `{"path", …}` or
/// `{"path", "error"}`.
fn answers<'py, T>(py: Python<'py>, results: PerFile<T>, fill: impl Fn(&Bound<'py, PyDict>, T) -> PyResult<()>) -> PyResult<Bound<'py, PyList>> {
    let list = PyList::empty(py);
    for (path, result) in results {
        let d = PyDict::new(py);
        d.set_item("path", &path)?;
        match result {
            Ok(answer) => fill(&d, answer)?,
            // The path is said once, as the CLI's JSON says it: in "path".
            Err(error) => d.set_item("error", error.strip_prefix(&format!("{path}: ")).unwrap_or(&error))?,
        }
        list.append(d)?;
    }
    Ok(list)
}

#[pymethods]
impl PyModel {
    /// Class probabilities, float32 `[N, classes]`.
    fn predict_proba<'py>(&self, x: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let (input, k) = {
            let m = self.lock();
            (m.architecture().input, m.classes().len())
        };
        let p = with_pixels(x, input, |pixels| self.lock().probabilities_of(pixels))?;
        let n = p.len() / k.max(1);
        let array = Array2::from_shape_vec((n, k), p).map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        Ok(array.into_pyarray(x.py()).into_any())
    }

    /// Class indices, int64 `[N]` (the most likely class; the first on ties).
    fn predict<'py>(&self, x: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let (input, k) = {
            let m = self.lock();
            (m.architecture().input, m.classes().len())
        };
        let classes = with_pixels(x, input, |pixels| {
            let p = self.lock().probabilities_of(pixels)?;
            Ok(p.chunks(k.max(1)).map(|row| digitnet::tensor::argmax(row) as i64).collect::<Vec<i64>>())
        })?;
        Ok(classes.into_pyarray(x.py()).into_any())
    }

    /// `eval --json`'s report as JSON text.
    fn evaluate_json(&self, x: &Bound<'_, PyAny>, y: Vec<u8>) -> PyResult<String> {
        let input = self.lock().architecture().input;
        let report = with_pixels(x, input, |pixels| self.lock().evaluate_pixels(pixels, &y))?;
        // As `eval --json`: the report, the model and how many images.
        let mut value = serde_json::to_value(&report).map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        if let Some(object) = value.as_object_mut() {
            object.insert("model".into(), self.lock().origin().into());
            object.insert("images".into(), y.len().into());
        }
        serde_json::to_string(&value).map_err(|e| PyRuntimeError::new_err(e.to_string()))
    }

    /// `predict --json` for image files.
    fn predict_files<'py>(&self, py: Python<'py>, paths: Vec<PathBuf>) -> PyResult<Bound<'py, PyList>> {
        self.lock().require_classifier().map_err(py_err)?;
        let results = each_file(py, self, &paths, |m, p| m.predict_file(p));
        answers(py, results, |d, p| {
            d.set_item("digit", p.label)?;
            d.set_item("confidence", p.confidence)?;
            d.set_item("probabilities", p.probabilities)?;
            d.set_item("not_a_digit", p.not_a_digit.is_some())?;
            match p.not_a_digit {
                Some(reason) => d.set_item("reason", reason),
                None => Ok(()),
            }
        })
    }

    /// `read --json` for image files of numbers.
    fn read_files<'py>(&self, py: Python<'py>, paths: Vec<PathBuf>) -> PyResult<Bound<'py, PyList>> {
        self.lock().require_classifier().map_err(py_err)?;
        // As `digitnet read`: the built-in classifier reads numbers with the built-in number reader.
        let builtin = self.lock().origin() == digitnet::inference::builtin::DIGITS_CLASSIFIER_NAME;
        let mut reader = if builtin { Some(Model::builtin_reader().map_err(py_err)?) } else { None };
        let results = each_file(py, self, &paths, |m, p| match reader.as_mut() {
            Some(r) => r.read(&load_luma(p)?),
            None => m.read(&load_luma(p)?),
        });
        answers(py, results, |d, r| {
            d.set_item("text", r.text)?;
            d.set_item("raw", r.raw)?;
            let digits = PyList::empty(py);
            for digit in r.digits {
                let e = PyDict::new(py);
                e.set_item("digit", digit.prediction.label)?;
                e.set_item("confidence", digit.prediction.confidence)?;
                e.set_item("box", digit.bbox.to_vec())?;
                digits.append(e)?;
            }
            d.set_item("digits", digits)
        })
    }

    /// `angle --json` for image files (a rotation model).
    fn angles<'py>(&self, py: Python<'py>, paths: Vec<PathBuf>) -> PyResult<Bound<'py, PyList>> {
        self.lock().require_rotation().map_err(py_err)?;
        let results = each_file(py, self, &paths, |m, p| m.angle_file(p));
        answers(py, results, |d, a| d.set_item("angle", a))
    }

    /// Writes the model file (safetensors, with the architecture and metadata).
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        py.detach(|| {
            let m = self.lock();
            model_file::save(m.network(), &path, m.metadata())
        })
        .map_err(py_err)
    }

    /// The Keras-style table of layers, output shapes and parameter counts.
    fn summary(&self) -> String {
        self.lock().network().summary()
    }

    #[getter]
    fn classes(&self) -> Vec<String> {
        self.lock().classes().to_vec()
    }

    #[getter]
    fn input_shape(&self) -> (usize, usize, usize) {
        let [c, h, w] = self.lock().architecture().input;
        (c, h, w)
    }

    #[getter]
    fn task(&self) -> String {
        format!("{:?}", self.lock().architecture().task).to_lowercase()
    }

    #[getter]
    fn pipeline(&self) -> &'static str {
        self.lock().pipeline().name()
    }

    #[getter]
    fn origin(&self) -> String {
        self.lock().origin().to_string()
    }

    #[getter]
    fn metadata(&self) -> std::collections::HashMap<String, String> {
        self.lock().metadata().clone()
    }

    #[getter]
    fn architecture_json(&self) -> String {
        self.lock().architecture().to_json()
    }

    fn __repr__(&self) -> String {
        let m = self.lock();
        format!(
            "<digitnet.Model {} ({}, {:?} inputs) from {}>",
            m.architecture().name,
            format!("{:?}", m.architecture().task).to_lowercase(),
            m.architecture().input,
            m.origin()
        )
    }
}

/// A model: `builtin` / `builtin-rotation` or a model file, with `arch` (a built-in name or
/// a JSON file) for files without digitnet metadata. `task`: "classifier", "rotation" or
/// "any", what the model must be.
#[pyfunction]
#[pyo3(signature = (path, arch=None, task="classifier"))]
fn load(py: Python<'_>, path: PathBuf, arch: Option<String>, task: &str) -> PyResult<PyModel> {
    let task = task.to_string();
    py.detach(move || {
        let model = match path.to_str() {
            Some("builtin") => Model::builtin()?,
            Some("builtin-rotation") => Model::builtin_rotation()?,
            _ => {
                let arch = arch.as_deref().map(Architecture::resolve).transpose()?;
                Model::load_with_arch(&path, arch.as_ref())?
            }
        };
        match task.as_str() {
            "classifier" => model.require_classifier()?,
            "rotation" => model.require_rotation()?,
            _ => {}
        }
        Ok(model)
    })
    .map(PyModel::new)
    .map_err(py_err)
}

/// Trains a classifier (see `train.rs`): returns the best-validation model and the history
/// as JSON text.
#[pyfunction]
#[pyo3(signature = (arch, options_json, out, x=None, y=None, folder=None, on_epoch=None))]
#[allow(clippy::too_many_arguments)]
fn train_model(
    py: Python<'_>,
    arch: String,
    options_json: String,
    out: PathBuf,
    x: Option<&Bound<'_, PyAny>>,
    y: Option<Vec<u8>>,
    folder: Option<PathBuf>,
    on_epoch: Option<Py<PyAny>>,
) -> PyResult<(PyModel, String)> {
    let options: train::Options = serde_json::from_str(&options_json).map_err(|e| PyValueError::new_err(format!("training options: {e}")))?;
    let spec = Architecture::resolve(&arch).map_err(py_err)?;
    // The pipeline the model records, as `digitnet train` chooses it for a run from scratch:
    // the architecture's own for MNIST-format data, `resize` for a folder.
    let [_, h, w] = spec.input;
    let (data, names, pipeline) = match (x, y, folder) {
        (Some(x), Some(y), None) => {
            let pipeline = options.pipeline_or(spec.pipeline()).map_err(py_err)?;
            // The data set owns its bytes (training shuffles, augments and splits them).
            let data = with_pixels(x, spec.input, |pixels| pixels.to_dataset(&y, h, w))?;
            (data, None, pipeline)
        }
        (None, None, Some(dir)) => {
            let pipeline = options.pipeline_or(digitnet::vision::Pipeline::Resize).map_err(py_err)?;
            let (d, names) = py.detach(|| digitnet::data::folder::load(&dir, pipeline, h, w)).map_err(py_err)?;
            (d, Some(names), pipeline)
        }
        _ => return Err(PyValueError::new_err("train takes either x and y (arrays) or folder (one sub-folder of images per class)")),
    };
    let mut failure: Option<PyErr> = None;
    let result = py.detach(|| {
        let mut run = train::prepare(spec, &data, names, pipeline, &options, &out)?;
        run.fit(&data, None, |event| {
            if let (Event::EpochEnd { record, improved }, Some(cb)) = (event, &on_epoch) {
                let line = serde_json::to_string(record).unwrap_or_default();
                Python::attach(|py| {
                    if let Err(e) = cb.call1(py, (line, improved)) {
                        failure.get_or_insert(e);
                    }
                });
            }
        })?;
        let history = serde_json::to_string(&run.state.history).map_err(|e| digitnet::Error::Data(e.to_string()))?;
        Ok((Model::load(&run.paths.model)?, history))
    });
    if let Some(e) = failure {
        return Err(e);
    }
    let (model, history) = result.map_err(py_err)?;
    Ok((PyModel::new(model), history))
}

#[pymodule]
fn _digitnet(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyModel>()?;
    m.add_function(wrap_pyfunction!(load, m)?)?;
    m.add_function(wrap_pyfunction!(train_model, m)?)?;
    Ok(())
}
