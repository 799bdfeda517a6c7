//! `digitnet serve`: the drawing page, the upload page and the JSON API, from the one binary.
//!
//! A request's path: axum reads the body (at most [`MAX_BODY`]; more is 413) → decoding and
//! preprocessing (the library's `decode_luma` + `to_mnist` or `find_digits`, as `predict` and
//! `read` do) in tokio's blocking pool, at most `--workers` at once → a job on the bounded
//! inference queue ([`pool`]) → a worker's forward → the same JSON object as
//! `predict --json` / `read --json`. Every request has a deadline (`--timeout`, then 504);
//! every error is `{"error": "…"}` with a 4xx/5xx status; SIGTERM or Ctrl-C stops accepting
//! connections and finishes the requests in flight. A body declared larger than the limit is
//! refused before it is read; connections are capped and closed when idle ([`conn`]).
//!
//! The page (`web/index.html`, `app.js`, `style.css`, `favicon.svg`) is embedded with `include_str!`.

pub mod conn;
mod pool;

use crate::predict::{load_rotation_model, ModelArgs, PredictOutput, ReadOutput};
use anyhow::{bail, Context, Result};
use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use clap::Args;
use digitnet::inference::{not_one_digit, reads_ten_digits, wide_ink_candidates, Digit, Model, Pipeline, Prediction};
use digitnet::tasks::rotation;
use digitnet::vision as photo;
use digitnet::vision::number::NumberCandidates;
use digitnet::vision::FoundDigit;
use pool::{Answer, Models, Pool, Task};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Largest request body: 10 MB (more gets 413 before it is read).
pub const MAX_BODY: usize = 10 * 1000 * 1000;

#[derive(Args)]
pub struct ServeArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// A rotation (angle) model file for /api/angle and the rotated-digit upload (default: the built-in one).
    #[arg(long)]
    angle_model: Option<PathBuf>,
    /// Address to listen on (port 0 picks a free port; the address is printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: String,
    /// Inference threads, each with its own copy of the model.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Inference jobs allowed to wait for a worker; beyond that requests get 503.
    #[arg(long, default_value_t = 256)]
    queue: usize,
    /// Seconds a request may take, reading its body included, before it gets 504.
    #[arg(long, default_value_t = 10.0)]
    timeout: f64,
}

// ---------------------------------------------------------------------------------------------
// Errors: `{"error": "…"}` with a status
// ---------------------------------------------------------------------------------------------

/// An error answer: its status and a one-line message.
#[derive(Clone, Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError { status, message: message.into() }
    }
    pub fn bad_request(m: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, m)
    }
    pub fn unprocessable(m: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, m)
    }
    pub fn unavailable(m: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, m)
    }
    pub fn internal(m: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, m)
    }

    /// A library error from decoding or preprocessing a request's image: the input's fault
    /// (422) unless it is an I/O or configuration failure on our side.
    fn from_input(e: digitnet::Error) -> Self {
        match e {
            digitnet::Error::Data(_) | digitnet::Error::Format { .. } | digitnet::Error::Length { .. } => Self::unprocessable(e.to_string()),
            other => Self::internal(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        #[derive(Serialize)]
        struct Body {
            error: String,
        }
        (self.status, Json(Body { error: self.message })).into_response()
    }
}

type ApiResult<T> = std::result::Result<T, ApiError>;

// ---------------------------------------------------------------------------------------------
// Server state and start-up
// ---------------------------------------------------------------------------------------------

struct AppState {
    pool: Pool,
    classes: Vec<String>,
    /// The input pipelines of the classifier and of the rotation model.
    pipeline: Pipeline,
    angle_pipeline: Pipeline,
    /// Bounds the decoding and preprocessing running at once (each may hold a decoded photo).
    decoders: Arc<Semaphore>,
    /// `GET /api/model`'s answer, made once.
    model_json: String,
}

type Shared = Arc<AppState>;

/// `GET /api/model`.
#[derive(Serialize)]
struct ModelInfo {
    name: String,
    source: String,
    input: [usize; 3],
    classes: Vec<String>,
    parameters: usize,
    flops_per_image: usize,
    layers: Vec<LayerInfo>,
    /// The validation accuracy recorded in the model file when it was trained (the best epoch's).
    val_accuracy: Option<f64>,
    epoch: Option<usize>,
    /// Keras-style table, as `digitnet summary` prints it.
    summary: String,
    angle_model: String,
}

#[derive(Serialize)]
struct LayerInfo {
    index: usize,
    kind: String,
    describe: String,
    output_shape: Vec<usize>,
    parameters: usize,
}

impl ModelInfo {
    fn new(model: &Model, angle_model: String) -> Self {
        let (metadata, source) = (model.metadata(), model.origin().to_string());
        let model = model.network();
        let a = model.architecture();
        let layers = model
            .layers()
            .iter()
            .enumerate()
            .map(|(index, l)| LayerInfo {
                index,
                kind: l.kind().to_string(),
                describe: l.describe(),
                output_shape: l.output_shape().to_vec(),
                parameters: l.params().iter().map(|p| p.value.len()).sum(),
            })
            .collect();
        ModelInfo {
            name: a.name.clone(),
            source,
            input: a.input,
            classes: a.classes.clone(),
            parameters: model.trainable_count(),
            flops_per_image: model.flops(),
            layers,
            val_accuracy: metadata.get("val_accuracy").and_then(|v| v.parse().ok()).filter(|v: &f64| v.is_finite()),
            epoch: metadata.get("epoch").and_then(|v| v.parse().ok()),
            summary: model.summary(),
            angle_model,
        }
    }
}

/// The longest `--timeout` (a day): longer ones cannot be told from none.
const MAX_TIMEOUT_SECONDS: f64 = 86_400.0;

pub fn serve(a: ServeArgs) -> Result<ExitCode> {
    if a.workers == 0 || a.workers > 64 {
        bail!("--workers must be between 1 and 64, got {}", a.workers);
    }
    if a.queue == 0 {
        bail!("--queue must be ≥ 1");
    }
    if !(a.timeout.is_finite() && a.timeout > 0.0 && a.timeout <= MAX_TIMEOUT_SECONDS) {
        bail!("--timeout must be a positive number of seconds, at most {MAX_TIMEOUT_SECONDS}, got {}", a.timeout);
    }
    let model = a.model.load()?;
    if model.architecture().input != [1, 28, 28] {
        bail!("model '{}' takes {:?} inputs; serve needs a 28×28 digit classifier", model.architecture().name, model.architecture().input);
    }
    let load_angle = || -> Result<Model> {
        load_rotation_model(a.angle_model.as_ref()).with_context(|| match &a.angle_model {
            Some(p) => format!("loading --angle-model {}", p.display()),
            None => "loading the built-in rotation model".to_string(),
        })
    };
    let angle = load_angle()?; // fail before binding when the file is bad
    if angle.architecture().input != [1, 28, 28] {
        bail!("rotation model '{}' takes {:?} inputs; serve needs one for 28×28 digits", angle.architecture().name, angle.architecture().input);
    }
    let model_json = serde_json::to_string(&ModelInfo::new(&model, angle.origin().to_string()))?;
    let classes = model.classes().to_vec();
    let reader = a.model.load_reader()?;
    let (pipeline, angle_pipeline) = (model.pipeline(), angle.pipeline());
    // The models loaded above go to the first worker; the others load their own copies.
    let first = std::sync::Mutex::new(Some((model, angle, reader)));
    let pool = Pool::start(a.workers, a.queue, || {
        let (classifier, angle, reader) = match first.lock().ok().and_then(|mut m| m.take()) {
            Some(models) => models,
            None => (a.model.load()?, load_angle()?, a.model.load_reader()?),
        };
        Ok(Models { classifier, angle, reader })
    })?;
    let state = Arc::new(AppState { pool, classes, pipeline, angle_pipeline, decoders: Arc::new(Semaphore::new(a.workers)), model_json });
    let timeout = Duration::from_secs_f64(a.timeout);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&a.addr).await.with_context(|| format!("cannot listen on {}", a.addr))?;
        let addr = listener.local_addr()?;
        println!("digitnet serve: listening on http://{addr} ({} worker{}; Ctrl-C stops)", a.workers, if a.workers == 1 { "" } else { "s" });
        std::io::Write::flush(&mut std::io::stdout())?;
        axum::serve(conn::Limited::new(listener, timeout), router(state, timeout)).with_graceful_shutdown(shutdown_signal()).await.context("serving")
    })?;
    eprintln!("digitnet serve: stopped");
    Ok(ExitCode::SUCCESS)
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    eprintln!("digitnet serve: shutting down, finishing the requests in flight");
}

/// A static text response with its content type.
pub fn asset(content_type: &'static str, text: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "no-cache")], text).into_response()
}

pub const STYLE_CSS: &str = include_str!("../../../web/style.css");

/// The page's and the dashboard's icon (`web/favicon.svg`, linked from both pages).
pub fn favicon() -> Response {
    asset("image/svg+xml", include_str!("../../../web/favicon.svg"))
}

fn router(state: Shared, timeout: Duration) -> Router {
    Router::new()
        .route("/", get(|| async { Html(include_str!("../../../web/index.html")) }))
        .route("/app.js", get(|| async { asset("text/javascript; charset=utf-8", include_str!("../../../web/app.js")) }))
        .route("/style.css", get(|| async { asset("text/css; charset=utf-8", STYLE_CSS) }))
        .route("/favicon.svg", get(|| async { favicon() }))
        .route("/api/health", get(health))
        .route("/api/model", get(model_info))
        .route("/api/predict", post(api_predict))
        .route("/api/read", post(api_read))
        .route("/api/angle", post(api_angle))
        .route("/api/inspect", post(api_inspect))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such page or API route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "wrong method for this route (the API takes POST, /api/model and /api/health GET)")
        })
        .layer(middleware::from_fn_with_state(timeout, deadline))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn(refuse_large_bodies))
        .with_state(state)
}

/// A body declared larger than [`MAX_BODY`] gets 413 at once: it is never read, and a client
/// that asked `Expect: 100-continue` gets no `100 Continue`.
async fn refuse_large_bodies(req: Request, next: Next) -> Response {
    let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, format!("the body is larger than the limit of {MAX_BODY} bytes")).into_response();
    }
    next.run(req).await
}

/// Gives every request `timeout` to finish (reading its body included); then 504.
async fn deadline(State(timeout): State<Duration>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(timeout, next.run(req)).await {
        Ok(r) => r,
        Err(_) => {
            ApiError::new(StatusCode::GATEWAY_TIMEOUT, format!("the request took longer than the limit of {:.1} s", timeout.as_secs_f64())).into_response()
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Request bodies: image bytes, a multipart upload, or JSON pixels
// ---------------------------------------------------------------------------------------------

/// `?show=true`: also return the 28×28 image the network saw.
#[derive(Deserialize, Default)]
struct Options {
    #[serde(default)]
    show: bool,
}

/// What a request sent: an encoded image (with a name for the answer's `path`) or pixels.
enum Input {
    Image { name: String, bytes: Bytes },
    Pixels(Box<Digit>),
}

const BODY_HELP: &str = "send image bytes (PNG, JPEG, BMP, GIF, TIFF, WebP), a multipart upload with one image, or JSON {\"pixels\": [784 numbers, 0-255]}";

fn options(req: &Request) -> ApiResult<Options> {
    Query::<Options>::try_from_uri(req.uri()).map(|q| q.0).map_err(|e| ApiError::bad_request(e.body_text()))
}

/// Reads the body by its content type (multipart, JSON, or anything else as image bytes).
async fn read_input(req: Request) -> ApiResult<Input> {
    let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
    if content_type.starts_with("multipart/form-data") {
        let mut form = Multipart::from_request(req, &()).await.map_err(|e| ApiError::new(e.status(), e.body_text()))?;
        while let Some(field) = form.next_field().await.map_err(|e| ApiError::new(e.status(), e.body_text()))? {
            let name = field.file_name().or(field.name()).unwrap_or("upload").to_string();
            let bytes = field.bytes().await.map_err(|e| ApiError::new(e.status(), e.body_text()))?;
            if !bytes.is_empty() {
                return Ok(Input::Image { name, bytes });
            }
        }
        return Err(ApiError::bad_request(format!("the multipart upload has no non-empty file: {BODY_HELP}")));
    }
    let bytes = Bytes::from_request(req, &()).await.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(e.status(), format!("the body is larger than the limit of {MAX_BODY} bytes")),
        status => ApiError::new(status, e.body_text()),
    })?;
    if bytes.is_empty() {
        return Err(ApiError::bad_request(format!("empty body: {BODY_HELP}")));
    }
    if content_type.starts_with("application/json") {
        return pixels(&bytes).map(Input::Pixels);
    }
    if image::guess_format(&bytes).is_err() {
        return Err(ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, format!("the body is not a recognised image: {BODY_HELP}")));
    }
    Ok(Input::Image { name: "body".into(), bytes })
}

/// `{"pixels": [784 numbers]}` ([`Digit::from_pixels_json`]): malformed JSON is 400; JSON of
/// another shape, the wrong count, values outside 0–255 or no ink are 422.
fn pixels(json: &[u8]) -> ApiResult<Box<Digit>> {
    Digit::from_pixels_json(json).map(Box::new).map_err(|e| match e {
        digitnet::Error::Format { path, problem } => ApiError::bad_request(format!("{}: {problem} ({BODY_HELP})", path.display())),
        digitnet::Error::Data(m) if m.starts_with("bad JSON body") => ApiError::unprocessable(format!("{m} ({BODY_HELP})")),
        other => ApiError::from_input(other),
    })
}

impl AppState {
    /// Runs `f` in the blocking pool, at most `--workers` at once.
    async fn blocking<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> ApiResult<T> {
        let permit = self.decoders.clone().acquire_owned().await.map_err(|_| ApiError::unavailable("shutting down"))?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            f()
        })
        .await
        .map_err(|_| ApiError::internal("preprocessing failed on this input"))
    }

    /// The 28×28 image the network sees (pixels as sent, or the image through the model's
    /// input pipeline), with whether the image was in MNIST's format (which network of
    /// a built-in model reads it: `Model::for_image`, by the same test for pixels as for a PNG
    /// of them) and what the photo pipeline found around the digit (for the "not one digit"
    /// answer), exactly as `predict` examines it; with `number_check`, also the number's
    /// candidates when the ink is wide (`Model::reading_of_wide_ink`).
    async fn examine(&self, input: Input, pipeline: Pipeline, number_check: bool) -> ApiResult<(String, Examined, Option<FoundDigit>)> {
        match input {
            Input::Pixels(p) => {
                let mnist_format = photo::pipeline::is_mnist_format(&p.to_gray());
                Ok(("pixels".into(), Examined { digit: p, mnist_format, wide: None }, None))
            }
            Input::Image { name, bytes } => {
                let origin = name.clone();
                let found = self
                    .blocking(move || {
                        photo::decode_luma(&bytes, &origin).and_then(|g| {
                            let (d, f) = pipeline.examine(&g)?;
                            // Wide ink is read as a number too (`Model::reading_of_wide_ink`).
                            let wide = number_check.then(|| wide_ink_candidates(&g, f.as_ref()).map(Box::new)).flatten();
                            Ok((d, f, photo::pipeline::is_mnist_format(&g), wide))
                        })
                    })
                    .await?;
                let (img, found, mnist_format, wide) = found.map_err(ApiError::from_input)?;
                Ok((name, Examined { digit: Box::new(img), mnist_format, wide }, found))
            }
        }
    }
}

/// A request's 28×28 digit, and whether its image was in MNIST's format.
struct Examined {
    digit: Box<Digit>,
    mnist_format: bool,
    /// A number's candidate digits, when the photo pipeline found wide ink
    /// ([`digitnet::inference::NUMBER_CHECK_ASPECT`]).
    wide: Option<Box<NumberCandidates>>,
}

// ---------------------------------------------------------------------------------------------
// Routes
// ---------------------------------------------------------------------------------------------

/// An answer, with the 28×28 input when `?show=true` asked for it.
#[derive(Serialize)]
struct Shown<T> {
    #[serde(flatten)]
    answer: T,
    #[serde(skip_serializing_if = "Option::is_none")]
    input: Option<Vec<u8>>,
}

fn shown<T: Serialize>(answer: T, show: bool, img: &Digit) -> Json<Shown<T>> {
    Json(Shown { answer, input: show.then(|| img.to_vec()) })
}

async fn health(State(s): State<Shared>) -> impl IntoResponse {
    Json(serde_json::json!({"status": "ok", "queued": s.pool.queued()}))
}

async fn model_info(State(s): State<Shared>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], s.model_json.clone())
}

/// `POST /api/predict` → the object `predict --json` prints for one image.
async fn api_predict(State(s): State<Shared>, req: Request) -> ApiResult<Response> {
    let opts = options(&req)?;
    let (name, Examined { digit: img, mnist_format, wide }, found) = s.examine(read_input(req).await?, s.pipeline, true).await?;
    let p = s.pool.classify(vec![*img], mnist_format).await?.remove(0);
    let mut prediction = Prediction::new(&s.classes, p);
    // As `Model::reading_of_wide_ink`: read by the reader `/api/read` uses, when the classes
    // are the ten digits.
    let number = match wide {
        Some(candidates) if reads_ten_digits(&s.classes) => s.pool.read_candidates(*candidates).await.ok(),
        _ => None,
    };
    prediction.not_a_digit = not_one_digit(found.as_ref(), &prediction, number.as_ref());
    Ok(shown(PredictOutput::new(name, prediction), opts.show, &img).into_response())
}

/// `POST /api/read` → the object `read --json` prints for one image.
async fn api_read(State(s): State<Shared>, req: Request) -> ApiResult<Response> {
    let (name, bytes) = match read_input(req).await? {
        Input::Image { name, bytes } => (name, bytes),
        Input::Pixels(_) => return Err(ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "read takes a photo of a number, not 28×28 pixels")),
    };
    let origin = name.clone();
    let found = s.blocking(move || photo::decode_luma(&bytes, &origin).and_then(|g| digitnet::vision::number::number_candidates(&g))).await?;
    let candidates = found.map_err(ApiError::from_input)?;
    let reading = s.pool.read_candidates(candidates).await?;
    Ok(Json(ReadOutput::new(name, reading)).into_response())
}

/// `POST /api/angle` → `{"angle": degrees}` (positive = counter-clockwise).
async fn api_angle(State(s): State<Shared>, req: Request) -> ApiResult<Response> {
    let opts = options(&req)?;
    // As `angle` reads a file: an image in MNIST's format goes to the rotation model's network
    // for those (`Model::for_image`), by the same test for pixels as for a PNG of them.
    // A photo is looked at three times, as `Model::angle` does (`rotation::angle_views`).
    let (views, mnist_format) = match read_input(req).await? {
        Input::Pixels(p) => {
            let mnist_format = photo::pipeline::is_mnist_format(&p.to_gray());
            (vec![(0.0, *p)], mnist_format)
        }
        Input::Image { name, bytes } => {
            let pipeline = s.angle_pipeline;
            let found = s
                .blocking(move || {
                    let g = photo::decode_luma(&bytes, &name)?;
                    Ok((rotation::angle_views(pipeline, &g)?, photo::pipeline::is_mnist_format(&g)))
                })
                .await?;
            found.map_err(ApiError::from_input)?
        }
    };
    let (turns, digits): (Vec<f32>, Vec<Digit>) = views.into_iter().unzip();
    let shown_digit = digits[0];
    let Answer::Angles(a) = s.pool.run(Task::Angles(digits, mnist_format)).await? else {
        return Err(ApiError::internal("wrong answer kind from a worker"));
    };
    #[derive(Serialize)]
    struct Angle {
        angle: f32,
    }
    if a.len() != turns.len() {
        return Err(ApiError::internal("the rotation model gave no angle"));
    }
    let angle = rotation::combine_views(&turns, &a);
    Ok(shown(Angle { angle }, opts.show, &shown_digit).into_response())
}

/// `POST /api/inspect` → the 28×28 input and every layer's feature maps (as `inspect`).
async fn api_inspect(State(s): State<Shared>, req: Request) -> ApiResult<Response> {
    let (_, Examined { digit: img, mnist_format, .. }, _) = s.examine(read_input(req).await?, s.pipeline, false).await?;
    let Answer::Maps(layers) = s.pool.run(Task::Inspect(img.clone(), mnist_format)).await? else {
        return Err(ApiError::internal("wrong answer kind from a worker"));
    };
    Ok(Json(serde_json::json!({"input": img.to_vec(), "layers": layers})).into_response())
}
