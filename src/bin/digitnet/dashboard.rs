//! `digitnet train --dashboard [ADDR]`: a page with the loss and accuracy curves (training and
//! validation) updating live, the epoch's progress, speed and learning rate.
//!
//! The training thread only records: [`Dashboard::observe`] sees every event, keeps a batch
//! point for an epoch's first and last batch and at most every [`POINT_EVERY`] in between (a
//! clock read otherwise) and takes an uncontended lock
//! for a few field writes. The page is served by a one-thread tokio runtime on its own thread,
//! which copies what it needs under the lock and serialises outside it; the page polls
//! `/api/progress?from=N` once a second and gets only the points it does not have.
//!
//! When training ends, [`Dashboard::stay_until_ctrl_c`] keeps the page and its final curves
//! up until Ctrl-C or SIGTERM, then stops the server; without `--dashboard` it returns at once.
//! The signal handlers are installed only then, so Ctrl-C during training still ends the
//! process at once, as without the dashboard.

use crate::serve::{asset, favicon, STYLE_CSS};
use anyhow::{Context, Result};
use axum::extract::{Query, State};
use axum::response::Html;
use axum::routing::get;
use axum::{Json, Router};
use digitnet::training::{EpochRecord, Event};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Shortest time between two recorded batch points.
pub const POINT_EVERY: Duration = Duration::from_millis(250);

/// A running-average point during an epoch: `x` is the epoch as a fraction (1.5 = half-way
/// through epoch 2).
#[derive(Clone, Copy, Serialize)]
struct Point {
    x: f64,
    loss: f64,
    acc: f64,
}

/// What the page shows.
#[derive(Clone, Default, Serialize)]
struct Progress {
    title: String,
    /// "training", "validating", "finished" or "stopped early".
    status: String,
    epoch: usize,
    epochs: usize,
    batch: usize,
    batches: usize,
    images_per_second: f64,
    lr: f32,
    /// Since the run started, and since this epoch started.
    seconds: f64,
    epoch_seconds: f64,
    history: Vec<EpochRecord>,
    #[serde(skip)]
    points: Vec<Point>,
}

/// A live training-progress page, or nothing (without `--dashboard`).
pub struct Dashboard {
    shared: Option<Arc<Mutex<Progress>>>,
    /// Where the page is served.
    pub addr: Option<std::net::SocketAddr>,
    server: Option<Server>,
    last_point: Instant,
    epoch_start: Instant,
    run_start: Instant,
}

/// The thread serving the page, and the sender that makes it stop (gracefully: the requests
/// in flight are answered).
struct Server {
    stop: oneshot::Sender<()>,
    thread: JoinHandle<()>,
}

/// The page's requests are all cheap reads: a connection gets `HEADER_TIMEOUT` + this to be
/// answered before it is closed.
const DASHBOARD_REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

fn lock(p: &Mutex<Progress>) -> std::sync::MutexGuard<'_, Progress> {
    p.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Dashboard {
    /// Starts serving the page at `addr` (printing its address), or does nothing for `None`.
    /// Fails before training when the address cannot be bound.
    pub fn start(addr: Option<&str>, title: &str) -> Result<Dashboard> {
        let now = Instant::now();
        let mut d = Dashboard { shared: None, addr: None, server: None, last_point: now, epoch_start: now, run_start: now };
        let Some(addr) = addr else { return Ok(d) };
        let listener = std::net::TcpListener::bind(addr).with_context(|| format!("--dashboard: cannot listen on {addr}"))?;
        listener.set_nonblocking(true)?;
        d.addr = Some(listener.local_addr()?);
        eprintln!("dashboard: http://{}", listener.local_addr()?);
        let shared = Arc::new(Mutex::new(Progress { title: title.to_string(), status: "starting".into(), ..Progress::default() }));
        let state = shared.clone();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the dashboard's runtime")?;
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new().name("digitnet-dashboard".into()).spawn(move || {
            runtime.block_on(async move {
                let app = Router::new()
                    .route("/", get(|| async { Html(include_str!("../../../web/dashboard.html")) }))
                    .route("/dashboard.js", get(|| async { asset("text/javascript; charset=utf-8", include_str!("../../../web/dashboard.js")) }))
                    .route("/style.css", get(|| async { asset("text/css; charset=utf-8", STYLE_CSS) }))
                    .route("/favicon.svg", get(|| async { favicon() }))
                    .route("/api/progress", get(progress))
                    .with_state(state);
                match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => {
                        let stopped = async {
                            // The sender gone without a word (the Dashboard dropped) stops it too.
                            let _ = stopped.await;
                        };
                        // The same connection limits as `serve`: at most 512 open, silent ones closed.
                        let l = crate::serve::conn::Limited::new(l, DASHBOARD_REQUEST_TIMEOUT);
                        if let Err(e) = axum::serve(l, app).with_graceful_shutdown(stopped).await {
                            eprintln!("warning: the dashboard stopped: {e}");
                        }
                    }
                    Err(e) => eprintln!("warning: the dashboard could not start: {e}"),
                }
            })
        })?;
        d.shared = Some(shared);
        d.server = Some(Server { stop, thread });
        Ok(d)
    }

    /// After training: says that the page stays, keeps serving the final curves until Ctrl-C
    /// or SIGTERM, then stops the server. Returns at once without a dashboard.
    pub fn stay_until_ctrl_c(self) -> Result<()> {
        if self.server.is_none() {
            return Ok(());
        }
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().context("waiting for Ctrl-C")?;
        runtime.block_on(async {
            use tokio::signal::unix::{signal, SignalKind};
            // Installed before the message is printed: a Ctrl-C that follows it is caught.
            let mut interrupt = signal(SignalKind::interrupt()).context("waiting for Ctrl-C")?;
            let mut terminate = signal(SignalKind::terminate()).context("waiting for SIGTERM")?;
            self.stay_until(async {
                tokio::select! {
                    _ = interrupt.recv() => {}
                    _ = terminate.recv() => {}
                }
            })
            .await;
            Ok(())
        })
    }

    /// After training: marks the run finished (unless it stopped early), says that the page
    /// stays, serves it until `stop` resolves, then stops the server and waits for its thread.
    pub async fn stay_until(mut self, stop: impl Future<Output = ()>) {
        let (Some(shared), Some(server), Some(addr)) = (self.shared.take(), self.server.take(), self.addr) else { return };
        {
            let mut p = lock(&shared);
            if p.status != "stopped early" {
                p.status = "finished".into();
            }
            p.seconds = self.run_start.elapsed().as_secs_f64();
        }
        eprintln!("training done; the dashboard stays at http://{addr} until Ctrl-C");
        stop.await;
        let _ = server.stop.send(());
        if server.thread.join().is_err() {
            eprintln!("warning: the dashboard's thread panicked");
        }
        eprintln!("dashboard: stopped");
    }

    /// Records `event` for the page and hands it back, so the training loop's own handling
    /// reads `match dashboard.observe(event) { … }`.
    pub fn observe<'a>(&mut self, event: Event<'a>) -> Event<'a> {
        let Some(shared) = &self.shared else { return event };
        match &event {
            Event::EpochStart { epoch, epochs, batches } => {
                self.epoch_start = Instant::now();
                let mut p = lock(shared);
                (p.epoch, p.epochs, p.batches, p.batch) = (*epoch, *epochs, *batches, 0);
                p.status = "training".into();
            }
            Event::Batch(b) => {
                let now = Instant::now();
                let ends = b.batch == 1 || b.batch == b.batches;
                if !ends && now.duration_since(self.last_point) < POINT_EVERY {
                    return event;
                }
                self.last_point = now;
                let mut p = lock(shared);
                p.batch = b.batch;
                p.lr = b.lr;
                p.epoch_seconds = now.duration_since(self.epoch_start).as_secs_f64();
                p.images_per_second = b.images as f64 / p.epoch_seconds.max(1e-9);
                p.seconds = now.duration_since(self.run_start).as_secs_f64();
                let x = (p.epoch.max(1) - 1) as f64 + b.batch as f64 / b.batches.max(1) as f64;
                p.points.push(Point { x, loss: b.running.loss, acc: b.running.accuracy });
                if b.batch == b.batches {
                    p.status = "validating".into();
                }
            }
            Event::EpochEnd { record, .. } => {
                let mut p = lock(shared);
                p.history.push((*record).clone());
                p.seconds = self.run_start.elapsed().as_secs_f64();
                if record.epoch == p.epochs {
                    p.status = "finished".into();
                }
            }
            Event::EarlyStop { .. } => lock(shared).status = "stopped early".into(),
        }
        event
    }
}

#[derive(Deserialize)]
struct Since {
    #[serde(default)]
    from: usize,
}

/// `GET /api/progress?from=N`: the state, and the batch points from index `N` on.
async fn progress(State(shared): State<Arc<Mutex<Progress>>>, Query(q): Query<Since>) -> Json<serde_json::Value> {
    let (state, from, points) = {
        let p = lock(&shared);
        let from = q.from.min(p.points.len());
        (p.clone_without_points(), from, p.points[from..].to_vec())
    };
    Json(serde_json::json!({ "state": state, "from": from, "points": points }))
}

impl Progress {
    /// Everything but the batch points (those go out a slice at a time).
    fn clone_without_points(&self) -> Progress {
        Progress { points: Vec::new(), history: self.history.clone(), title: self.title.clone(), status: self.status.clone(), ..*self }
    }
}

/// The tests' HTTP client (tests/common/http.rs).
#[cfg(test)]
#[path = "../../../tests/common/http.rs"]
mod test_http;

#[cfg(test)]
mod tests {
    use super::*;
    use digitnet::training::{Progress as Batch, Stats};
    use test_http as http;

    fn batch(batch: usize, batches: usize, loss: f64) -> Batch {
        Batch { batch, batches, images: batch * 10, running: Stats { loss, accuracy: 1.0 - loss, images: batch * 10 }, lr: 0.01 }
    }

    /// Events in, the page's JSON out: the state, the throttled batch points (the first and
    /// the last batch of an epoch always count; the 48 in between come within 250 ms of the
    /// first and do not), the history, and `?from=N` returning only the newer points.
    #[test]
    fn progress_follows_the_events() {
        let mut d = Dashboard::start(Some("127.0.0.1:0"), "tiny").unwrap();
        let addr = d.addr.unwrap().to_string();
        let get = |path: &str| http::request(&addr, "GET", path, None, b"").unwrap();
        let empty = get("/api/progress").json();
        assert_eq!(empty["state"]["status"], "starting");
        assert_eq!(empty["points"].as_array().unwrap().len(), 0);

        d.observe(Event::EpochStart { epoch: 1, epochs: 2, batches: 50 });
        for b in 1..=50 {
            d.observe(Event::Batch(&batch(b, 50, 1.0 / b as f64)));
        }
        let record = EpochRecord { epoch: 1, train_loss: 0.5, train_acc: 0.8, val_loss: 0.4, val_acc: 0.85, lr: 0.01, seconds: 1.5, val_rmse: None };
        d.observe(Event::EpochEnd { record: &record, improved: true });
        let v = get("/api/progress").json();
        let s = &v["state"];
        assert_eq!((s["title"].as_str(), s["epoch"].as_u64(), s["epochs"].as_u64()), (Some("tiny"), Some(1), Some(2)));
        assert_eq!((s["batch"].as_u64(), s["batches"].as_u64()), (Some(50), Some(50)));
        assert_eq!(s["status"], "validating");
        assert_eq!(s["history"][0]["val_acc"], 0.85);
        let points = v["points"].as_array().unwrap();
        assert_eq!(points.len(), 2, "{points:?}");
        assert_eq!((points[0]["x"].as_f64(), points[0]["loss"].as_f64()), (Some(0.02), Some(1.0)));
        assert_eq!((points[1]["x"].as_f64(), points[1]["loss"].as_f64()), (Some(1.0), Some(0.02)));

        d.observe(Event::EpochStart { epoch: 2, epochs: 2, batches: 50 });
        d.observe(Event::Batch(&batch(50, 50, 0.01)));
        d.observe(Event::EpochEnd { record: &EpochRecord { epoch: 2, ..record }, improved: false });
        let v = get("/api/progress?from=2").json();
        assert_eq!(v["from"], 2);
        assert_eq!(v["points"].as_array().unwrap().len(), 1, "only the point after the first two");
        assert_eq!(v["points"][0]["x"], 2.0);
        assert_eq!(v["state"]["status"], "finished");
        assert_eq!(v["state"]["history"].as_array().unwrap().len(), 2);
        assert!(get("/").text().contains("loss-chart"));
        // The page's icon, as `serve` has it.
        assert!(get("/").text().contains(r#"href="/favicon.svg""#));
        assert!(get("/favicon.svg").text().starts_with("<svg "));
    }

    /// After the run the page still answers, with the final state, until the stop signal; then
    /// the server is gone (the connection is refused) and `stay_until` has returned.
    #[test]
    fn stays_after_training_until_stopped() {
        let mut d = Dashboard::start(Some("127.0.0.1:0"), "tiny").unwrap();
        let addr = d.addr.unwrap().to_string();
        d.observe(Event::EpochStart { epoch: 1, epochs: 1, batches: 2 });
        d.observe(Event::Batch(&batch(2, 2, 0.3)));
        let record = EpochRecord { epoch: 1, train_loss: 0.3, train_acc: 0.9, val_loss: 0.35, val_acc: 0.88, lr: 0.01, seconds: 0.5, val_rmse: None };
        d.observe(Event::EpochEnd { record: &record, improved: true });
        let (stop, stopped) = oneshot::channel::<()>();
        let staying = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(d.stay_until(async {
                let _ = stopped.await;
            }));
        });
        // Well after training: the page, the script and the final state are all still served.
        std::thread::sleep(Duration::from_millis(300));
        let v = http::request(&addr, "GET", "/api/progress", None, b"").unwrap().json();
        assert_eq!(v["state"]["status"], "finished");
        assert_eq!(v["state"]["history"][0]["val_acc"], 0.88);
        assert_eq!(v["points"].as_array().unwrap().len(), 1);
        assert!(http::request(&addr, "GET", "/", None, b"").unwrap().text().contains("loss-chart"));
        assert!(!staying.is_finished(), "stay_until returned before the stop signal");

        stop.send(()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !staying.is_finished() {
            assert!(Instant::now() < deadline, "the dashboard did not stop within 10 s of the signal");
            std::thread::sleep(Duration::from_millis(20));
        }
        staying.join().unwrap();
        let after = http::request(&addr, "GET", "/api/progress", None, b"");
        assert!(after.is_err(), "the dashboard still answers after it stopped: {:?}", after.map(|r| r.text()));
    }

    /// An early stop stays "stopped early" on the page after the run.
    #[test]
    fn an_early_stop_stays_so_after_the_run() {
        let mut d = Dashboard::start(Some("127.0.0.1:0"), "tiny").unwrap();
        let addr = d.addr.unwrap().to_string();
        d.observe(Event::EpochStart { epoch: 1, epochs: 5, batches: 2 });
        d.observe(Event::EarlyStop { epoch: 1, best_epoch: 1 });
        let staying = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            // The timer is made inside the runtime (tokio's timers need one).
            runtime.block_on(async { d.stay_until(tokio::time::sleep(Duration::from_millis(500))).await });
        });
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(http::request(&addr, "GET", "/api/progress", None, b"").unwrap().json()["state"]["status"], "stopped early");
        staying.join().unwrap();
    }

    /// Without --dashboard nothing is served and events pass through unchanged.
    #[test]
    fn off_passes_events_through() {
        let mut d = Dashboard::start(None, "x").unwrap();
        assert!(d.addr.is_none());
        match d.observe(Event::EarlyStop { epoch: 3, best_epoch: 1 }) {
            Event::EarlyStop { epoch, best_epoch } => assert_eq!((epoch, best_epoch), (3, 1)),
            _ => panic!("the event changed"),
        }
        // and nothing waits after training: `train` without --dashboard ends at once.
        let t = Instant::now();
        d.stay_until_ctrl_c().unwrap();
        assert!(t.elapsed() < Duration::from_secs(1));
    }
}
