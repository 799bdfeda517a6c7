//! Issue 18 through the binary: training that diverges stops with an error and keeps its good
//! files; a closed or full stdout ends the process quietly or with a one-line error, never a
//! panic; flags that would panic are refused; outputs never replace a file they should not.

mod common;

use common::{digitnet, fails_with};
use std::process::{Command, Output, Stdio};

/// Runs the binary with stdout going to `stdout`.
fn digitnet_into(args: &[&str], stdout: impl Into<Stdio>) -> Output {
    Command::new(env!("CARGO_BIN_EXE_digitnet")).args(args).env("RAYON_NUM_THREADS", "2").stdout(stdout).stderr(Stdio::piped()).output().expect("binary runs")
}

/// A pipe whose reading end is already closed: every write to it fails with EPIPE.
fn closed_pipe() -> std::io::PipeWriter {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    writer
}

#[test]
fn diverging_training_stops_with_an_error_and_keeps_no_nan() {
    let dir = common::temp_dir("diverge");
    common::write_mnist_subset(&dir, 300, 10);
    let out = dir.join("m.safetensors");
    // LeNet: its gradients overflow within the first epoch (a scratch net merely stalls).
    let args = [
        "train",
        "--arch",
        "lenet",
        "--data",
        dir.to_str().unwrap(),
        "--epochs",
        "3",
        "--val-split",
        "50",
        "--optimizer",
        "sgd",
        "--lr",
        "1e6",
        "--out",
        out.to_str().unwrap(),
    ];
    let o = digitnet(&args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "exit 0 with lr 1e6: {err}");
    assert!(!err.contains("panicked"), "{err}");
    let line = err.lines().find(|l| l.starts_with("error")).unwrap_or_else(|| panic!("no error line: {err}"));
    assert!(line.contains("diverged") && line.contains("epoch") && line.contains("step"), "{line}");
    // Whatever was saved is a good model.
    for f in ["m.safetensors", "m.ckpt.safetensors"] {
        let path = dir.join(f);
        if path.exists() {
            let bytes = std::fs::read(&path).unwrap();
            // The checkpoint's optimizer moments are tensors named `optim.…`.
            digitnet::network::model_file::from_bytes_with_extra(&bytes, None, &path, Some("optim.")).unwrap_or_else(|e| panic!("{f} after divergence: {e}"));
        }
    }
}

#[test]
fn closed_or_full_stdout_ends_quietly() {
    // A closed pipe (`digitnet summary … | head -0`): exit 141, nothing on stderr.
    let o = digitnet_into(&["summary", "--arch", "keras"], closed_pipe());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(o.status.code(), Some(141), "{err}");
    assert!(err.trim().is_empty(), "{err}");
    // A full disk (`> /dev/full`): a one-line error, exit 1.
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    let o = digitnet_into(&["summary", "--arch", "keras"], full);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.starts_with("error: writing to stdout") && err.lines().count() == 1, "{err}");
}

#[test]
fn closed_stderr_ends_quietly() {
    // `digitnet predict bad.png 2>&1 | head -0`: the per-file error cannot be written either.
    let dir = common::temp_dir("pipe-stderr");
    let bad = dir.join("bad.png");
    std::fs::write(&bad, b"not an image").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_digitnet"))
        .args(["predict", bad.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(closed_pipe())
        .output()
        .expect("binary runs");
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(141), "{out}");
    assert!(out.trim().is_empty(), "{out}");
}

/// `train … | head -n 2`: the progress lines are lost, the run is not.
#[test]
fn training_goes_on_when_stdout_closes() {
    let dir = common::temp_dir("pipe-train");
    common::write_mnist_subset(&dir, 200, 10);
    let out = dir.join("m.safetensors");
    let args = ["train", "--arch", "scratch8", "--data", dir.to_str().unwrap(), "--epochs", "2", "--val-split", "50", "--out", out.to_str().unwrap()];
    let o = digitnet_into(&args, closed_pipe());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success() && !err.contains("panicked"), "{err}");
    let history = std::fs::read_to_string(dir.join("m.history.csv")).unwrap();
    assert_eq!(history.lines().count(), 3, "both epochs ran: {history}");
}

#[test]
fn flags_that_would_panic_are_refused() {
    for t in ["1e20", "inf", "0", "-1", "86401"] {
        fails_with(&["serve", "--timeout", t, "--addr", "127.0.0.1:0"], "--timeout");
    }
}

// ---------------------------------------------------------------------------------------------
// The server sheds what it should
// ---------------------------------------------------------------------------------------------

fn serve(args: &[&str]) -> common::http::Server {
    common::http::Server::start(std::path::Path::new(env!("CARGO_BIN_EXE_digitnet")), args)
}

/// A body declared over the limit is refused at once: 413 is the first answer, with no
/// `100 Continue` before it and without waiting for a body that never comes.
#[test]
fn a_declared_oversized_body_gets_413_before_it_is_read() {
    use std::io::Write;
    let s = serve(&["--workers", "1"]);
    let mut c = common::http::Client::connect(&s.addr).unwrap();
    c.stream()
        .write_all(b"POST /api/predict HTTP/1.1\r\nHost: localhost\r\nContent-Type: image/png\r\nContent-Length: 100000000\r\nExpect: 100-continue\r\n\r\n")
        .unwrap();
    let r = c.read_response().unwrap();
    assert_eq!(r.status, 413, "{}", r.text());
    assert!(r.json()["error"].as_str().unwrap().contains("limit"), "{}", r.text());
}

/// A connection that sends nothing, or a header line and then nothing, is closed.
#[test]
fn idle_and_slow_connections_are_closed() {
    use std::io::Write;
    let s = serve(&["--workers", "1", "--timeout", "0.5"]);
    let mut silent = std::net::TcpStream::connect(&s.addr).unwrap();
    let mut slow = std::net::TcpStream::connect(&s.addr).unwrap();
    for c in [&silent, &slow] {
        c.set_read_timeout(Some(std::time::Duration::from_secs(60))).unwrap();
    }
    slow.write_all(b"GET /api/health HTTP/1.1\r\nHost: localhost\r\n").unwrap();
    assert!(common::http::closed_by_server(&mut silent), "a silent connection stayed open");
    assert!(common::http::closed_by_server(&mut slow), "a connection that never finished its head stayed open");
    // The server still answers.
    assert_eq!(common::http::request(&s.addr, "GET", "/api/health", None, b"").unwrap().status, 200);
}

/// Connections over the cap get 503 at once; when the others close, requests are served again.
#[test]
fn connections_over_the_cap_get_503() {
    let s = serve(&["--workers", "1"]);
    let held: Vec<std::net::TcpStream> = (0..512).map(|_| std::net::TcpStream::connect(&s.addr).unwrap()).collect();
    // The server accepts in order, so once it answers 503 every held connection has its slot.
    let r = (0..200)
        .map(|_| common::http::request(&s.addr, "GET", "/api/health", None, b""))
        .find_map(|r| r.ok().filter(|r| r.status == 503))
        .expect("a 503 once 512 connections are open");
    assert!(r.json()["error"].as_str().unwrap().contains("too many connections"), "{}", r.text());
    drop(held);
    let ok = (0..200).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(50));
        common::http::request(&s.addr, "GET", "/api/health", None, b"").is_ok_and(|r| r.status == 200)
    });
    assert!(ok, "no answer after the held connections closed");
}

// ---------------------------------------------------------------------------------------------
// Files: nothing replaced that should not be
// ---------------------------------------------------------------------------------------------

#[test]
fn outputs_never_replace_notes_or_their_input() {
    let dir = common::temp_dir("files");
    common::write_mnist_subset(&dir, 100, 10);
    let notes = dir.join("report.txt");
    std::fs::write(&notes, b"my notes").unwrap();
    let n = notes.to_str().unwrap();
    fails_with(&["train", "--arch", "scratch8", "--data", dir.to_str().unwrap(), "--epochs", "1", "--val-split", "20", "--out", n], "not a digitnet model");
    assert_eq!(std::fs::read(&notes).unwrap(), b"my notes");

    let image = dir.join("d.png");
    std::fs::copy(concat!(env!("CARGO_MANIFEST_DIR"), "/web/fixtures/number.png"), &image).unwrap();
    let before = std::fs::read(&image).unwrap();
    let i = image.to_str().unwrap();
    let dotted = format!("{}/./d.png", dir.display());
    fails_with(&["read", "--annotate", i, i], "input image");
    fails_with(&["read", "--annotate", &dotted, i], "input image");
    fails_with(&["filter", "--kernel", "sobel-x", i, "--out", i], "input image");
    assert_eq!(std::fs::read(&image).unwrap(), before);
}

/// Seeded mutants of the bodies the API parses (image bytes, `{"pixels": …}` JSON, multipart)
/// each get an answer — a result or a JSON error — and the server stays up.
#[test]
fn fuzz_api_bodies() {
    let s = serve(&["--workers", "1"]);
    let png = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/web/fixtures/digit.png")).unwrap();
    let pixels = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/web/fixtures/pixels.json")).unwrap();
    let mut multipart = b"--XyZ\r\nContent-Disposition: form-data; name=\"image\"; filename=\"d.png\"\r\nContent-Type: image/png\r\n\r\n".to_vec();
    multipart.extend_from_slice(&png);
    multipart.extend_from_slice(b"\r\n--XyZ--\r\n");
    let seeds: [(&[u8], &str); 3] = [(&png, "image/png"), (&pixels, "application/json"), (&multipart, "multipart/form-data; boundary=XyZ")];
    let mut rng = digitnet::init::Rng::new(18);
    for i in 0..90 {
        let (seed, content_type) = seeds[i % 3];
        let mut body = seed.to_vec();
        match rng.below(3) {
            0 => body.truncate(rng.below(body.len())),
            _ => {
                for _ in 0..1 + rng.below(16) {
                    let at = rng.below(body.len());
                    body[at] = [b'0', b'9', b'-', b'e', b'[', b'"', 0, 0xff][rng.below(8)];
                }
            }
        }
        let route = ["/api/predict", "/api/read", "/api/angle"][rng.below(3)];
        let r = common::http::request(&s.addr, "POST", route, Some(content_type), &body).unwrap_or_else(|e| panic!("mutant {i} on {route}: no answer ({e})"));
        assert!(r.status == 200 || (400..500).contains(&r.status), "mutant {i} on {route}: {} {}", r.status, r.text());
        if r.status != 200 {
            assert!(r.json()["error"].is_string(), "mutant {i}: {}", r.text());
        }
    }
    assert_eq!(common::http::request(&s.addr, "GET", "/api/health", None, b"").unwrap().status, 200);
}

/// A huge image with no digit in it: every command that reads a digit or a number says so in
/// one line naming the file, and fails.
#[test]
fn a_huge_image_without_a_digit_names_its_file() {
    let dir = common::temp_dir("huge-blank");
    let path = dir.join("blank-page.png");
    image::GrayImage::from_pixel(4000, 3000, image::Luma([255])).save(&path).unwrap();
    let file = path.to_str().unwrap();
    let out = dir.join("out");
    for args in [
        vec!["predict", file],
        vec!["read", file],
        vec!["angle", file],
        vec!["deskew", file, "--out", out.to_str().unwrap()],
        vec!["inspect", file, "--out", out.to_str().unwrap()],
    ] {
        let o = digitnet(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{args:?} succeeded");
        assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
        let line = err.lines().find(|l| l.contains("no digit found")).unwrap_or_else(|| panic!("{args:?}: {err}"));
        assert!(line.contains("blank-page.png"), "{args:?}: '{line}' does not name the file");
    }
}
