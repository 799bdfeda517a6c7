//! `train --dashboard` end to end with the real binary: it trains as without the page, and
//! after the run the page still answers with the final curves and says so on stderr, until
//! SIGINT (Ctrl-C) stops it cleanly; an address it cannot bind fails before any training;
//! without `--dashboard` the same run ends at once.

mod common;

use common::http;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn train_args<'a>(data: &'a str, out: &'a str) -> Vec<&'a str> {
    vec!["train", "--arch", "scratch8", "--data", data, "--epochs", "2", "--val-split", "50", "--batch-size", "32", "--out", out]
}

#[test]
fn the_dashboard_stays_after_training_until_ctrl_c() {
    let dir = common::temp_dir("dashboard");
    common::write_mnist_subset(&dir, 250, 10);
    let (data, out) = (dir.to_str().unwrap(), dir.join("m.safetensors"));
    let mut args = train_args(data, out.to_str().unwrap());
    args.extend(["--dashboard", "127.0.0.1:0"]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_digitnet"))
        .args(&args)
        .env("RAYON_NUM_THREADS", "2")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary runs");
    let (lines, from_child) = mpsc::channel();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let reader = std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    // Waits for a line containing `needle`; everything read so far in the panic message.
    let mut seen = Vec::new();
    let mut wait_for = |needle: &str| -> String {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match from_child.recv_timeout(left) {
                Ok(line) => {
                    seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!("no line with '{needle}' on stderr; it said:\n{}", seen.join("\n")),
            }
        }
    };
    let first = wait_for("dashboard: http://");
    let addr = first.trim_start_matches("dashboard: http://").trim().to_string();
    let done = wait_for("training done");
    assert_eq!(done, format!("training done; the dashboard stays at http://{addr} until Ctrl-C"));

    // Well after the run the page and its final state are still there, and the process waits.
    std::thread::sleep(Duration::from_millis(500));
    assert!(child.try_wait().unwrap().is_none(), "train --dashboard exited after training");
    let v = http::request(&addr, "GET", "/api/progress", None, b"").unwrap().json();
    assert_eq!(v["state"]["status"], "finished");
    assert_eq!(v["state"]["history"].as_array().unwrap().len(), 2);
    assert!(!v["points"].as_array().unwrap().is_empty());
    assert!(http::request(&addr, "GET", "/", None, b"").unwrap().text().contains("loss-chart"));
    assert!(out.is_file(), "the model is written before the page waits");

    // Ctrl-C: a clean exit, soon.
    let interrupted = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(interrupted.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("train --dashboard did not stop within 10 s of SIGINT");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "exit status after Ctrl-C: {status}");
    wait_for("dashboard: stopped");
    reader.join().unwrap();
    assert!(http::request(&addr, "GET", "/api/progress", None, b"").is_err(), "the page is still served after the process ended");
}

#[test]
fn without_the_dashboard_train_ends_at_once() {
    let dir = common::temp_dir("no-dashboard");
    common::write_mnist_subset(&dir, 250, 10);
    let out = dir.join("m.safetensors");
    let log = dir.join("stderr.txt");
    let mut child = Command::new(env!("CARGO_BIN_EXE_digitnet"))
        .args(train_args(dir.to_str().unwrap(), out.to_str().unwrap()))
        .env("RAYON_NUM_THREADS", "2")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("binary runs");
    // Generous for the training itself (a second or two); a process waiting for Ctrl-C would
    // never end.
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("train without --dashboard did not end: {}", std::fs::read_to_string(&log).unwrap_or_default());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let err = std::fs::read_to_string(&log).unwrap();
    assert!(status.success(), "{err}");
    assert!(!err.contains("dashboard"), "{err}");
    assert!(out.is_file());
}

#[test]
fn an_address_the_dashboard_cannot_bind_fails_before_training() {
    let dir = common::temp_dir("dashboard-bad-address");
    common::write_mnist_subset(&dir, 250, 10);
    let out = dir.join("m.safetensors");
    let mut args = train_args(dir.to_str().unwrap(), out.to_str().unwrap());
    args.extend(["--dashboard", "256.0.0.1:1"]);
    let o = common::digitnet(&args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("--dashboard"), "{err}");
    assert!(o.stdout.is_empty(), "no epoch trained after a bad address: {}", String::from_utf8_lossy(&o.stdout));
}
