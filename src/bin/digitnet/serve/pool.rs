//! The inference pool of `digitnet serve`: a bounded queue of jobs and `N` std threads, each
//! owning its own copy of the models and a one-thread rayon pool, so the threads never wait on
//! each other's work.
//!
//! Dynamic micro-batching: a worker takes the first queued job and, in the same critical
//! section, every classification job queued behind it up to [`MAX_BATCH`] images, and runs them
//! as one eval-mode forward. One image through the built-in network costs about as much as
//! several in a batch, so under load the throughput grows with the queue instead of the
//! latency. A full queue is refused at once (503) rather than grown: memory stays bounded
//! whatever arrives.

use super::ApiError;
use crate::inspect::{feature_maps, LayerMaps};
use crate::predict::classify;
use digitnet::model::Sequential;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// Most images one worker runs in one forward (the model's eval chunk).
pub const MAX_BATCH: usize = digitnet::model::EVAL_CHUNK;

/// What a worker owns: the classifier and, when one was given, the rotation model.
pub struct Models {
    pub classifier: Sequential,
    pub angle: Option<Sequential>,
}

/// Work for the models; every image is an MNIST-style 28×28 ink image.
pub enum Task {
    Classify(Vec<[u8; 784]>),
    Angles(Vec<[u8; 784]>),
    Inspect(Box<[u8; 784]>),
}

/// The answer to each kind of [`Task`].
pub enum Answer {
    Probabilities(Vec<Vec<f32>>),
    Angles(Vec<f32>),
    Maps(Vec<LayerMaps>),
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

    /// Classifies images; one probability vector per image.
    pub async fn classify(&self, images: Vec<[u8; 784]>) -> Result<Vec<Vec<f32>>, ApiError> {
        match self.run(Task::Classify(images)).await? {
            Answer::Probabilities(p) => Ok(p),
            _ => Err(ApiError::internal("wrong answer kind from a worker")),
        }
    }
}

/// Takes the next job and, if it is a classification, the classifications queued right behind
/// it (up to [`MAX_BATCH`] images); a job of another kind found while gathering is handed back
/// as the second value. `None` when the queue has closed.
fn next_batch(rx: &Mutex<Receiver<Job>>, queued: &AtomicUsize) -> Option<(Vec<Job>, Option<Job>)> {
    // One critical section for the blocking receive and the gathering: a worker that has its
    // first job never waits for the lock while another blocks in recv().
    let rx = rx.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let first = rx.recv().ok()?;
    queued.fetch_sub(1, Ordering::Relaxed);
    let Task::Classify(images) = &first.task else { return Some((vec![first], None)) };
    let mut n = images.len();
    let mut batch = vec![first];
    while n < MAX_BATCH {
        match rx.try_recv() {
            Ok(job) => {
                queued.fetch_sub(1, Ordering::Relaxed);
                match &job.task {
                    Task::Classify(more) => {
                        n += more.len();
                        batch.push(job);
                    }
                    _ => return Some((batch, Some(job))),
                }
            }
            Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
        }
    }
    Some((batch, None))
}

fn work(rx: &Mutex<Receiver<Job>>, queued: &AtomicUsize, models: &mut Models) {
    while let Some((batch, other)) = next_batch(rx, queued) {
        run_jobs(batch, models);
        if let Some(job) = other {
            run_jobs(vec![job], models);
        }
    }
}

/// Answers `jobs`: a batch of classifications as one forward, or a single other job. Jobs
/// whose requester has gone (timed out) are skipped; a panic becomes a 500 for these jobs
/// and the worker carries on.
fn run_jobs(mut jobs: Vec<Job>, models: &mut Models) {
    jobs.retain(|j| !j.reply.is_closed());
    if jobs.is_empty() {
        return;
    }
    let answered = catch_unwind(AssertUnwindSafe(|| answer(&jobs, models)));
    let answers: Vec<Result<Answer, ApiError>> = match answered {
        Ok(answers) => answers,
        Err(_) => jobs.iter().map(|_| Err(ApiError::internal("the model failed on this input"))).collect(),
    };
    for (job, a) in jobs.into_iter().zip(answers) {
        let _ = job.reply.send(a); // the requester may have gone meanwhile
    }
}

/// One answer per job (`jobs` is a classification batch or a single job).
fn answer(jobs: &[Job], models: &mut Models) -> Vec<Result<Answer, ApiError>> {
    let internal = |e: anyhow::Error| ApiError::internal(format!("{e:#}"));
    match &jobs[0].task {
        Task::Classify(_) => {
            let images: Vec<[u8; 784]> = jobs.iter().flat_map(|j| match &j.task {
                Task::Classify(imgs) => imgs.clone(),
                _ => Vec::new(),
            }).collect();
            match classify(&mut models.classifier, &images) {
                Ok(mut probs) => jobs
                    .iter()
                    .map(|j| {
                        let n = if let Task::Classify(imgs) = &j.task { imgs.len() } else { 0 };
                        Ok(Answer::Probabilities(probs.drain(..n).collect()))
                    })
                    .collect(),
                Err(e) => {
                    let e = internal(e);
                    jobs.iter().map(|_| Err(e.clone())).collect()
                }
            }
        }
        Task::Angles(images) => vec![match &mut models.angle {
            Some(model) => super::angles(model, images).map(Answer::Angles).map_err(|e| ApiError::unavailable(format!("{e:#}"))),
            None => Err(ApiError::unavailable("no rotation model: start the server with --angle-model FILE")),
        }],
        Task::Inspect(img) => vec![feature_maps(&mut models.classifier, img).map(Answer::Maps).map_err(internal)],
    }
}
