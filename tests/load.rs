//! Load test of `digitnet serve` on loopback: starts the release binary on a free port, then
//! `CLIENTS` threads, each with one keep-alive connection, POST to `/api/predict` as fast as
//! the answers come for `SECONDS`. Prints requests/s, latency percentiles, errors and the
//! server's resident memory before, during and after. Every request goes to 127.0.0.1 only,
//! and the run stops by itself.
//!
//! A measurement, not a check, so it is ignored by `cargo test`; run it with
//! `LOAD_CLIENTS=16 LOAD_SECONDS=30 LOAD_BODY=png LOAD_WORKERS=2 cargo test --release --test load -- --ignored --nocapture`
//! (those are the defaults).
//!
//! `--body png` sends a 150×140 PNG photo of an MNIST test digit (decoded and preprocessed by
//! the server, as `predict` does); `--body pixels` sends JSON `{"pixels": [784 numbers]}`
//! (no preprocessing). Each client cycles through 100 different test digits.

mod common;

use common::http::{Client, Server};
use digitnet::data::render::Canvas;
use digitnet::data::{shipped_mnist_dir, Dataset, Split};
use digitnet::init::Rng;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

struct Options {
    clients: usize,
    seconds: f64,
    body: String,
    workers: usize,
}

/// The options from `LOAD_CLIENTS`, `LOAD_SECONDS`, `LOAD_BODY` and `LOAD_WORKERS`.
fn parse() -> Options {
    let var = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_string());
    let o = Options {
        clients: var("LOAD_CLIENTS", "16").parse().expect("LOAD_CLIENTS=N"),
        seconds: var("LOAD_SECONDS", "30").parse().expect("LOAD_SECONDS=S"),
        body: var("LOAD_BODY", "png"),
        workers: var("LOAD_WORKERS", "2").parse().expect("LOAD_WORKERS=N"),
    };
    assert!(o.seconds > 0.0 && o.seconds <= 600.0, "LOAD_SECONDS between 0 and 600");
    assert!((1..=256).contains(&o.clients), "LOAD_CLIENTS between 1 and 256");
    o
}

/// A photo of an MNIST test digit: dark pen on lit paper, as PNG bytes.
fn photo(digit: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut c = Canvas::lit_paper(150, 140, rng);
    c.pen(digit, 4, 15, 10);
    c.png()
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

#[test]
#[ignore]
fn load_test() {
    let o = parse();
    let test = Dataset::load_idx(&shipped_mnist_dir(), Split::Test, false).expect("shipped MNIST");
    let mut rng = Rng::new(1);
    let (content_type, bodies): (&str, Vec<Vec<u8>>) = match o.body.as_str() {
        "png" => ("image/png", (0..100).map(|i| photo(test.image(i), &mut rng)).collect()),
        "pixels" => ("application/json", (0..100).map(|i| serde_json::to_vec(&serde_json::json!({ "pixels": test.image(i) })).unwrap()).collect()),
        other => panic!("LOAD_BODY=png or pixels, not {other}"),
    };
    let labels: Vec<String> = (0..100).map(|i| test.labels[i].to_string()).collect();
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_digitnet"));
    let server = Server::start(&binary, &["--workers", &o.workers.to_string()]);
    let rss_start = server.rss_kib().unwrap_or(0);

    // Warm-up: one pass over the bodies (first allocations, page cache).
    let mut warm = Client::connect(&server.addr).unwrap();
    for b in &bodies {
        assert_eq!(warm.request("POST", "/api/predict", Some(content_type), b).unwrap().status, 200);
    }
    drop(warm);
    let rss_before = server.rss_kib().unwrap_or(0);

    let stop = AtomicBool::new(false);
    let started = Instant::now();
    let deadline = Duration::from_secs_f64(o.seconds);
    let mut rss_during = Vec::new();
    let results: Vec<(Vec<Duration>, usize, usize)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..o.clients)
            .map(|c| {
                let (bodies, labels, addr, stop) = (&bodies, &labels, &server.addr, &stop);
                scope.spawn(move || {
                    let mut client = Client::connect(addr).expect("connect");
                    let (mut latencies, mut errors, mut wrong) = (Vec::with_capacity(100_000), 0usize, 0usize);
                    let mut i = c * 7;
                    while !stop.load(Ordering::Relaxed) {
                        let k = i % bodies.len();
                        i += 1;
                        let t = Instant::now();
                        match client.request("POST", "/api/predict", Some(content_type), &bodies[k]) {
                            Ok(r) if r.status == 200 => {
                                latencies.push(t.elapsed());
                                wrong += usize::from(r.json()["digit"] != labels[k].as_str());
                            }
                            Ok(_) => errors += 1,
                            Err(_) => {
                                errors += 1;
                                client = Client::connect(addr).expect("reconnect");
                            }
                        }
                    }
                    (latencies, errors, wrong)
                })
            })
            .collect();
        while started.elapsed() < deadline {
            std::thread::sleep(Duration::from_millis(1000).min(deadline.saturating_sub(started.elapsed())));
            rss_during.push(server.rss_kib().unwrap_or(0));
        }
        stop.store(true, Ordering::Relaxed);
        handles.into_iter().map(|h| h.join().expect("client thread")).collect()
    });
    let elapsed = started.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_millis(500));
    let rss_after = server.rss_kib().unwrap_or(0);

    let mut all: Vec<Duration> = results.iter().flat_map(|r| r.0.iter().copied()).collect();
    let errors: usize = results.iter().map(|r| r.1).sum();
    let wrong: usize = results.iter().map(|r| r.2).sum();
    all.sort_unstable();
    let n = all.len();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "load test: POST /api/predict, {} body, {} clients, {} workers, {:.1} s on {} cores",
        o.body,
        o.clients,
        o.workers,
        elapsed,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("requests: {n} answered, {errors} errors, {wrong} answers not the image's label (of 100 MNIST test digits)");
    if n > 0 {
        println!("throughput: {:.0} predictions/s", n as f64 / elapsed);
        println!(
            "latency: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            ms(percentile(&all, 0.5)),
            ms(percentile(&all, 0.9)),
            ms(percentile(&all, 0.99)),
            ms(all[n - 1])
        );
    }
    let mib = |k: u64| format!("{:.1}", k as f64 / 1024.0);
    let every = rss_during.len().div_ceil(6).max(1);
    let series: Vec<String> = rss_during.iter().enumerate().filter(|(i, _)| (i + 1) % every == 0).map(|(_, &k)| mib(k)).collect();
    println!(
        "server memory (RSS, MiB): {} at start, {} after warm-up; during the run, every {every} s: {}; {} after",
        mib(rss_start),
        mib(rss_before),
        series.join(", "),
        mib(rss_after)
    );
    assert_eq!(errors, 0, "requests that failed");
}
