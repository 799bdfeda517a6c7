//! The inference pool of `digitnet serve`: a bounded queue of jobs and `N` std threads, each
//! owning its own copy of the models and a one-thread rayon pool, so the threads never wait on
//! each other's work. A full queue is refused at once (503) rather than grown: memory stays
//! bounded whatever arrives.
//!
//! One job, one forward. Dynamic micro-batching (a worker running the classifications queued
//! behind its job as one forward) was built and measured, and did not pay: this engine's eval
//! forward costs the same per image at batch 1 as at 64 (0.184 vs 0.186 ms on one thread for
//! the built-in network), so a batch saves little and holds every answer back until the whole
//! batch is done. Alternating 15-s runs of the load test (`tests/load.rs`) (16 clients, 2 workers, on
//! this shared 2-core machine), predictions/s:
//!
//! | body | one job at a time | batches of up to 64 | a fair share of the queue, ≤ 64 |
//! |---|---|---|---|
//! | pixels | 4,219 3,502 3,670 2,895 2,819 | 3,257 3,295 3,079 3,101 3,097 | 3,126 3,134 2,710 |
//! | PNG photo | 750 754 | 664 734 | |
//!
//! Throughput is a wash within the machine's noise; p99 latency was lower one job at a time in
//! every pair (pixels 8.9–12.5 ms against 12.3–13.8 ms, photos 44–45 ms against 52–56 ms).
//! Worth trying again once the engine runs a batch as one GEMM per layer.

use super::ApiError;
use digitnet::inference::{Digit, FeatureMaps, Model, Reading};
use digitnet::vision::number::NumberCandidates;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// What a worker owns: the classifier, the rotation model and the number reader's classifier.
pub struct Models {
    pub classifier: Model,
    pub angle: Model,
    pub reader: Model,
}

/// Work for the models; every image is an MNIST-style 28×28 digit, already through the
/// model's input pipeline.
pub enum Task {
    /// Digits for the classifier, and whether their images were in MNIST's format
    /// ([`Model::for_mnist_format`]).
    Classify(Vec<Digit>, bool),
    /// A number's candidate digits, for the number reader.
    Read(Box<NumberCandidates>),
    /// Digits for the rotation model, and whether their images were in MNIST's format
    /// ([`Model::for_mnist_format`]).
    Angles(Vec<Digit>, bool),
    /// One digit's feature maps, and whether its image was in MNIST's format.
    Inspect(Box<Digit>, bool),
}

/// The answer to each kind of [`Task`].
pub enum Answer {
    Probabilities(Vec<Vec<f32>>),
    Reading(Box<Reading>),
    Angles(Vec<f32>),
    Maps(Vec<FeatureMaps>),
}

struct Job {
    task: Task,
    reply: oneshot::Sender<Result<Answer, ApiError>>,
}

/// The queue's sending side; the workers run until every `Pool` clone is dropped.
#[derive(Clone)]
pub struct Pool {
    tx: SyncSender<Job>,
    queued: Arc<AtomicUsize>,
    capacity: usize,
}

impl Pool {
    /// Starts `workers` threads, each with the models `load` makes (called once per worker,
    /// before this returns, so a model that fails to load fails here). At most `capacity`
    /// jobs wait.
    pub fn start(workers: usize, capacity: usize, load: impl Fn() -> anyhow::Result<Models>) -> anyhow::Result<Pool> {
        let (tx, rx) = sync_channel::<Job>(capacity);
        let rx = Arc::new(Mutex::new(rx));
        let queued = Arc::new(AtomicUsize::new(0));
        for w in 0..workers {
            let mut models = load()?;
            let (rx, queued) = (rx.clone(), queued.clone());
            let pool = rayon::ThreadPoolBuilder::new().num_threads(1).thread_name(move |_| format!("digitnet-infer-{w}")).build()?;
            std::thread::Builder::new().name(format!("digitnet-worker-{w}")).spawn(move || pool.install(|| work(&rx, &queued, &mut models)))?;
        }
        Ok(Pool { tx, queued, capacity })
    }

    /// Jobs waiting for a worker now.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// Queues `task` and waits for its answer; 503 at once when the queue is full.
    pub async fn run(&self, task: Task) -> Result<Answer, ApiError> {
        let (reply, answer) = oneshot::channel();
        self.queued.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = self.tx.try_send(Job { task, reply }) {
            self.queued.fetch_sub(1, Ordering::Relaxed);
            return Err(match e {
                TrySendError::Full(_) => ApiError::unavailable(format!("server busy: {} requests are already waiting for a worker, try again", self.capacity)),
                TrySendError::Disconnected(_) => ApiError::internal("the inference workers have stopped"),
            });
        }
        answer.await.map_err(|_| ApiError::internal("the inference worker failed on this request"))?
    }

    /// The number reader's reading of a number's candidate digits.
    pub async fn read_candidates(&self, candidates: NumberCandidates) -> Result<Reading, ApiError> {
        match self.run(Task::Read(Box::new(candidates))).await? {
            Answer::Reading(r) => Ok(*r),
            _ => Err(ApiError::internal("wrong answer kind from a worker")),
        }
    }

    /// Classifies images (by the classifier's network for MNIST-format images when
    /// `mnist_format`); one probability vector per image.
    pub async fn classify(&self, images: Vec<Digit>, mnist_format: bool) -> Result<Vec<Vec<f32>>, ApiError> {
        match self.run(Task::Classify(images, mnist_format)).await? {
            Answer::Probabilities(p) => Ok(p),
            _ => Err(ApiError::internal("wrong answer kind from a worker")),
        }
    }
}

fn work(rx: &Mutex<Receiver<Job>>, queued: &AtomicUsize, models: &mut Models) {
    loop {
        let job = {
            let rx = rx.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            match rx.recv() {
                Ok(job) => job,
                Err(_) => return, // the server has stopped
            }
        };
        queued.fetch_sub(1, Ordering::Relaxed);
        if job.reply.is_closed() {
            continue; // the requester has gone (timed out)
        }
        // A panic becomes a 500 for this job and the worker carries on.
        let answer = catch_unwind(AssertUnwindSafe(|| answer(&job.task, models))).unwrap_or_else(|_| Err(ApiError::internal("the model failed on this input")));
        let _ = job.reply.send(answer); // the requester may have gone meanwhile
    }
}

/// Runs one task on the worker's models.
fn answer(task: &Task, models: &mut Models) -> Result<Answer, ApiError> {
    let internal = |e: digitnet::Error| ApiError::internal(e.to_string());
    match task {
        Task::Classify(images, mnist_format) => {
            models.classifier.for_mnist_format(*mnist_format).probabilities(images).map(Answer::Probabilities).map_err(internal)
        }
        Task::Read(candidates) => models.reader.read_candidates(candidates).map(|r| Answer::Reading(Box::new(r))).map_err(ApiError::from_input),
        Task::Angles(images, mnist_format) => models.angle.for_mnist_format(*mnist_format).angles(images).map(Answer::Angles).map_err(internal),
        Task::Inspect(img, mnist_format) => models.classifier.for_mnist_format(*mnist_format).feature_maps(img).map(Answer::Maps).map_err(internal),
    }
}
