//! `digitnet serve` end to end: the real binary on an ephemeral loopback port, every API
//! route with good and bad bodies, answers compared with `predict --json` / `read --json`,
//! concurrent requests (each must get its own answer), the deadline and the graceful
//! shutdown. Then `train --dashboard`: it trains as without the page, and after the run the
//! page still answers with the final curves and says so on stderr, until SIGINT (Ctrl-C) stops
//! it cleanly; an address it cannot bind fails before any training; without `--dashboard` the
//! same run ends at once.

mod common;

use common::http::{request, Client, Response, Server};
use common::{draw_digit, paper};
use digitnet::data::render::Canvas;
use digitnet::data::{shipped_mnist_dir, Dataset, Split};
use digitnet::init::Rng;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_digitnet"))
}

fn start(args: &[&str]) -> Server {
    Server::start(binary(), args)
}

fn digitnet(args: &[&str]) -> std::process::Output {
    std::process::Command::new(binary()).args(args).output().expect("binary runs")
}

fn mnist_test() -> Dataset {
    Dataset::load_idx(&shipped_mnist_dir(), Split::Test, false).unwrap()
}

fn png(img: &Canvas) -> Vec<u8> {
    img.png()
}

/// A photo of MNIST test digit `i` on paper, as PNG bytes.
fn digit_photo(test: &Dataset, i: usize) -> Vec<u8> {
    let mut img = paper(150, 140, &mut Rng::new(i as u64));
    draw_digit(&mut img, test.image(i), 4, 15, 10);
    png(&img)
}

/// A photo of the number made of MNIST test digits `picks`, as PNG bytes.
fn number_photo(test: &Dataset, picks: &[usize]) -> Vec<u8> {
    let mut rng = Rng::new(5);
    let mut img = paper(picks.len() as u32 * 100 + 40, 150, &mut rng);
    for (k, &i) in picks.iter().enumerate() {
        draw_digit(&mut img, test.image(i), 3, 20 + k as u32 * 100, 20 + rng.below(30) as u32);
    }
    png(&img)
}

fn pixels_json(img: &[u8]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ "pixels": img })).unwrap()
}

/// A decompression bomb: a valid grey PNG of 8000 × 8000 zero pixels (64 megapixels, more
/// than the 40-megapixel decoding limit) that compresses to about 60 KB. Written row by row,
/// so the test never holds the 64 MB itself.
fn png_bomb() -> Vec<u8> {
    use flate2::write::ZlibEncoder;
    let (w, h) = (8000u32, 8000u32);
    let mut z = ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    let row = vec![0u8; w as usize + 1]; // filter byte 0, then the pixels
    for _ in 0..h {
        z.write_all(&row).unwrap();
    }
    let idat = z.finish().unwrap();
    let chunk = |out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]| {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(data);
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        out.extend_from_slice(&crc.sum().to_be_bytes());
    };
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]); // 8-bit grey, deflate, adaptive filter, no interlace
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &idat);
    chunk(&mut out, b"IEND", &[]);
    out
}

/// A multipart/form-data body with one file field.
fn multipart(file_name: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = "digitnet-test-boundary-7MA4YWxk";
    let mut body =
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"{file_name}\"\r\nContent-Type: image/png\r\n\r\n").into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

fn post(s: &Server, path: &str, content_type: Option<&str>, body: &[u8]) -> Response {
    request(&s.addr, "POST", path, content_type, body).expect("the server answers")
}

/// Asserts `r` is an error with `status` and a JSON `{"error": "…"}` containing `needle`.
fn assert_error(r: &Response, status: u16, needle: &str, what: &str) {
    assert_eq!(r.status, status, "{what}: {}", r.text());
    let e = r.json()["error"].as_str().unwrap_or_else(|| panic!("{what}: no \"error\" in {}", r.text())).to_string();
    assert!(e.contains(needle), "{what}: error {e:?} should mention {needle:?}");
}

/// A body an image route must refuse: what it is, its content type, the status and a word of
/// the error message expected.
struct BadBody {
    what: &'static str,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    status: u16,
    needle: &'static str,
}

/// The bad bodies every image route must refuse.
fn bad_bodies() -> Vec<BadBody> {
    let mut truncated = number_photo(&mnist_test(), &[0]);
    truncated.truncate(truncated.len() / 2);
    let bad = |what, content_type, body, status, needle| BadBody { what, content_type, body, status, needle };
    vec![
        bad("empty body", None, Vec::new(), 400, "empty body"),
        bad("not an image", Some("application/octet-stream"), b"this is not an image at all".to_vec(), 415, "not a recognised image"),
        bad("truncated PNG", Some("image/png"), truncated, 422, "body"),
        bad("decompression bomb", Some("image/png"), png_bomb(), 422, "more than the limit"),
        bad("11 MB", Some("image/png"), vec![0x89; 11_000_000], 413, "larger than the limit"),
        bad("multipart without a file", Some("multipart/form-data; boundary=x"), b"--x--\r\n".to_vec(), 400, "no non-empty file"),
    ]
}

/// Sends every bad body to `route` and checks each answer.
fn refuses_bad_bodies(s: &Server, route: &str) {
    for b in bad_bodies() {
        assert_error(&post(s, route, b.content_type, &b.body), b.status, b.needle, &format!("{route}: {}", b.what));
    }
}

#[test]
fn predict_answers_as_predict_json_does_for_bytes_multipart_and_pixels() {
    let test = mnist_test();
    let dir = common::temp_dir("serve-predict");
    let photo = digit_photo(&test, 0); // a 7
    let file = dir.join("seven.png");
    std::fs::write(&file, &photo).unwrap();
    let cli = digitnet(&["predict", "--json", file.to_str().unwrap()]);
    assert!(cli.status.success(), "{}", String::from_utf8_lossy(&cli.stderr));
    let cli: serde_json::Value = serde_json::from_slice(&cli.stdout).unwrap();
    let cli = &cli[0];

    let s = start(&["--workers", "1"]);
    let raw = post(&s, "/api/predict", Some("image/png"), &photo);
    assert_eq!(raw.status, 200, "{}", raw.text());
    assert_eq!(raw.header("content-type"), Some("application/json"));
    let raw = raw.json();
    let keys: Vec<&str> = raw.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys.len(), 5, "the same five fields as predict --json: {keys:?}");
    assert_eq!(raw["not_a_digit"], cli["not_a_digit"]);
    assert_eq!(raw["not_a_digit"], false);
    assert_eq!(raw["path"], "body");
    assert_eq!(raw["digit"], cli["digit"]);
    assert_eq!(raw["digit"], test.labels[0].to_string());
    // Same preprocessing and the same model: the same probabilities (to float rounding).
    let (a, b) = (raw["probabilities"].as_array().unwrap(), cli["probabilities"].as_array().unwrap());
    assert_eq!(a.len(), 10);
    for (x, y) in a.iter().zip(b) {
        assert!((x.as_f64().unwrap() - y.as_f64().unwrap()).abs() < 1e-5, "{a:?} vs {b:?}");
    }

    let (ct, body) = multipart("seven.png", &photo);
    let up = post(&s, "/api/predict", Some(&ct), &body);
    assert_eq!(up.status, 200, "{}", up.text());
    assert_eq!(up.json()["path"], "seven.png", "a multipart upload is named by its file name");
    assert_eq!(up.json()["digit"], cli["digit"]);

    // Pixels are used as they are; ?show=true returns what the network saw.
    for i in 1..6 {
        let r = post(&s, "/api/predict?show=true", Some("application/json"), &pixels_json(test.image(i)));
        assert_eq!(r.status, 200, "{}", r.text());
        let v = r.json();
        assert_eq!(v["digit"], test.labels[i].to_string(), "test image {i}");
        let seen: Vec<u8> = v["input"].as_array().unwrap().iter().map(|p| p.as_u64().unwrap() as u8).collect();
        assert_eq!(seen, test.image(i), "pixels go to the network unchanged");
    }
    // And for a photo, the 28×28 image `predict --show` would write.
    let shown = post(&s, "/api/predict?show=true", Some("image/png"), &photo).json();
    let want = digitnet::vision::to_mnist(&digitnet::vision::decode_luma(&photo, "photo").unwrap()).unwrap();
    let seen: Vec<u8> = shown["input"].as_array().unwrap().iter().map(|p| p.as_u64().unwrap() as u8).collect();
    assert_eq!(seen, want.to_vec());
}

#[test]
fn predict_refuses_bad_bodies_with_json_errors() {
    let s = start(&["--workers", "1"]);
    refuses_bad_bodies(&s, "/api/predict");
    let json = Some("application/json");
    assert_error(&post(&s, "/api/predict", json, b"{\"pixels\": [1, 2"), 400, "bad JSON", "truncated JSON");
    assert_error(&post(&s, "/api/predict", json, b"[1, 2, 3]"), 422, "bad JSON", "JSON of the wrong shape");
    assert_error(&post(&s, "/api/predict", json, b"{\"image\": 1}"), 422, "bad JSON", "an unknown field");
    assert_error(&post(&s, "/api/predict", json, b"{\"pixels\": [1, 2, 3]}"), 422, "784", "3 pixels");
    let mut over = vec![0.0; 784];
    over[5] = 300.0;
    assert_error(&post(&s, "/api/predict", json, &serde_json::to_vec(&serde_json::json!({ "pixels": over })).unwrap()), 422, "pixel 5", "a pixel of 300");
    assert_error(&post(&s, "/api/predict", json, &pixels_json(&[0; 784])), 422, "no digit", "all-zero pixels");
    let blank = png(&paper(80, 80, &mut Rng::new(2)));
    assert_error(&post(&s, "/api/predict", Some("image/png"), &blank), 422, "no digit found", "blank paper");
    assert_error(&post(&s, "/api/predict?show=maybe", json, &pixels_json(mnist_test().image(0))), 400, "show", "a bad query");
    assert_error(&request(&s.addr, "GET", "/api/predict", None, b"").unwrap(), 405, "wrong method", "GET on a POST route");
    assert_error(&request(&s.addr, "GET", "/api/nothing", None, b"").unwrap(), 404, "no such", "an unknown route");
    // After all that, it still answers.
    assert_eq!(request(&s.addr, "GET", "/api/health", None, b"").unwrap().json()["status"], "ok");
}

#[test]
fn read_answers_as_read_json_does() {
    let test = mnist_test();
    let photo = number_photo(&test, &[0, 1, 2, 3, 4]); // 7 2 1 0 4
    let dir = common::temp_dir("serve-read");
    let file = dir.join("number.png");
    std::fs::write(&file, &photo).unwrap();
    let cli = digitnet(&["read", "--json", file.to_str().unwrap()]);
    assert!(cli.status.success(), "{}", String::from_utf8_lossy(&cli.stderr));
    let mut cli: serde_json::Value = serde_json::from_slice(&cli.stdout).unwrap();
    cli["path"] = "number.png".into();

    let s = start(&["--workers", "2"]);
    let (ct, body) = multipart("number.png", &photo);
    let r = post(&s, "/api/read", Some(&ct), &body);
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["text"], "72104");
    assert_eq!(v["digits"].as_array().unwrap().len(), 5);
    // The same object as `read --json`: text, boxes and confidences (to float rounding).
    assert_eq!(v["text"], cli["text"]);
    for (a, b) in v["digits"].as_array().unwrap().iter().zip(cli["digits"].as_array().unwrap()) {
        assert_eq!(a["digit"], b["digit"]);
        assert_eq!(a["box"], b["box"]);
        assert!((a["confidence"].as_f64().unwrap() - b["confidence"].as_f64().unwrap()).abs() < 1e-5);
    }
    assert_eq!(post(&s, "/api/read", Some("image/png"), &photo).json()["path"], "body");

    refuses_bad_bodies(&s, "/api/read");
    assert_error(&post(&s, "/api/read", Some("application/json"), &pixels_json(test.image(0))), 415, "photo of a number", "pixels");
}

/// `/api/angle` answers as `digitnet angle --json` does for the same photo of a turned test
/// digit (the built-in rotation model), close to the true angle; bad bodies are refused, and a
/// bad or non-rotation `--angle-model` fails at start-up.
#[test]
fn angle_answers_as_the_angle_command() {
    let test = mnist_test();
    let set = digitnet::tasks::rotation::RotatedSet::generate(&test, &[3, 17], digitnet::tasks::rotation::MAX_DEGREES, 9);
    let s = start(&["--workers", "1"]);
    let dir = std::env::temp_dir().join(format!("digitnet-serve-angle-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for k in 0..2 {
        let photo = digit_photo(&set.data, k);
        let file = dir.join(format!("turned{k}.png"));
        std::fs::write(&file, &photo).unwrap();
        let cli = digitnet(&["angle", "--json", file.to_str().unwrap()]);
        assert!(cli.status.success(), "{}", String::from_utf8_lossy(&cli.stderr));
        let want = serde_json::from_slice::<serde_json::Value>(&cli.stdout).unwrap()[0]["angle"].as_f64().unwrap();
        let r = post(&s, "/api/angle", Some("image/png"), &photo);
        assert_eq!(r.status, 200, "{}", r.text());
        let got = r.json()["angle"].as_f64().unwrap();
        assert!((got - want).abs() < 1e-4, "server {got}, command {want}");
        assert!((got - set.angles[k] as f64).abs() < 20.0, "predicted {got}, true {}", set.angles[k]);
        // The same turned digit in MNIST's format (as `data rotated` writes it), as a PNG and
        // as pixels: the built-in model's MNIST-format network, as `angle` uses for the file.
        let raw = set.data.image(k);
        let file = dir.join(format!("turned{k}-mnist.png"));
        image::GrayImage::from_raw(28, 28, raw.to_vec()).unwrap().save(&file).unwrap();
        let cli = digitnet(&["angle", "--json", file.to_str().unwrap()]);
        let want = serde_json::from_slice::<serde_json::Value>(&cli.stdout).unwrap()[0]["angle"].as_f64().unwrap();
        for (content_type, body) in [("image/png", std::fs::read(&file).unwrap()), ("application/json", pixels_json(raw))] {
            let r = post(&s, "/api/angle", Some(content_type), &body);
            assert_eq!(r.status, 200, "{}", r.text());
            let got = r.json()["angle"].as_f64().unwrap();
            assert!((got - want).abs() < 1e-4, "{content_type}: server {got}, command {want}");
        }
        assert!((want - set.angles[k] as f64).abs() < 10.0, "MNIST format: predicted {want}, true {}", set.angles[k]);
    }
    refuses_bad_bodies(&s, "/api/angle");
    // A bad --angle-model fails at start-up, before listening.
    let o = digitnet(&["serve", "--addr", "127.0.0.1:0", "--angle-model", "/nonexistent/angle.safetensors"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("angle"), "{}", String::from_utf8_lossy(&o.stderr));
    let classifier = dir.join("classifier.safetensors");
    std::fs::write(&classifier, digitnet::inference::builtin::DIGITS_CLASSIFIER).unwrap();
    let o = digitnet(&["serve", "--addr", "127.0.0.1:0", "--angle-model", classifier.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a rotation model"), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn model_health_inspect_and_the_page() {
    let s = start(&["--workers", "1"]);
    let get = |path: &str| request(&s.addr, "GET", path, None, b"").unwrap();
    let m = get("/api/model");
    assert_eq!(m.status, 200);
    let m = m.json();
    assert_eq!(m["name"], "digits");
    assert_eq!(m["parameters"], 688_586, "models/README.md: 688,586 parameters");
    assert_eq!(m["layers"].as_array().unwrap().len(), 18);
    assert_eq!(m["layers"][0]["output_shape"], serde_json::json!([32, 28, 28]));
    // The built-in model's network for photos (models/digits-photos.safetensors) records its
    // best validation epoch: 8 of the 10 of its fine-tuning on photographed digits, 99.32 %
    // (the MNIST-format network's: 15, 99.58 %).
    assert_eq!(m["epoch"], 8);
    assert!((m["val_accuracy"].as_f64().unwrap() - 0.9932).abs() < 5e-5, "{}", m["val_accuracy"]);
    assert!(m["summary"].as_str().unwrap().contains("Total params"));

    let h = get("/api/health");
    assert_eq!(h.status, 200);
    assert_eq!(h.json()["status"], "ok");
    assert_error(&request(&s.addr, "POST", "/api/health", None, b"x").unwrap(), 405, "wrong method", "POST /api/health");

    let test = mnist_test();
    let r = post(&s, "/api/inspect", Some("application/json"), &pixels_json(test.image(0)));
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    let layers = v["layers"].as_array().unwrap();
    // Every [C, H, W] layer of the 18 (4 per conv block × 3) and the first layer's filters.
    assert_eq!(layers.len(), 13);
    assert_eq!(layers[0]["shape"], serde_json::json!([32, 28, 28]));
    assert_eq!(layers[0]["maps"].as_array().unwrap().len(), 32);
    assert_eq!(layers[0]["maps"][0].as_array().unwrap().len(), 784);
    assert_eq!(layers[12]["kind"], "filters");
    assert_eq!(layers[12]["shape"], serde_json::json!([32, 3, 3]));
    // Maps are scaled min-to-max: each non-constant map spans 0 to 255.
    let first: Vec<u64> = layers[0]["maps"][0].as_array().unwrap().iter().map(|x| x.as_u64().unwrap()).collect();
    assert_eq!((first.iter().min(), first.iter().max()), (Some(&0), Some(&255)));
    assert_error(&post(&s, "/api/inspect", None, b""), 400, "empty body", "empty inspect");

    let page = get("/");
    assert_eq!(page.status, 200);
    assert!(page.header("content-type").unwrap().starts_with("text/html"));
    assert!(page.text().contains("<canvas id=\"pad\""));
    assert!(get("/app.js").header("content-type").unwrap().starts_with("text/javascript"));
    assert!(get("/style.css").header("content-type").unwrap().starts_with("text/css"));
    // The favicon: the page links it and the server answers it as an SVG image.
    assert!(page.text().contains(r#"<link rel="icon" type="image/svg+xml" href="/favicon.svg">"#));
    let icon = get("/favicon.svg");
    assert_eq!((icon.status, icon.header("content-type")), (200, Some("image/svg+xml")));
    assert!(icon.text().starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""), "{}", icon.text());
}

/// 8 clients send 25 requests each at once to 2 workers: every answer belongs to its own
/// request and matches the answer the same image gets alone.
#[test]
fn concurrent_requests_get_their_own_answers() {
    let test = mnist_test();
    let s = start(&["--workers", "2"]);
    let bodies: Vec<Vec<u8>> = (0..50).map(|i| pixels_json(test.image(i))).collect();
    let mut alone = Client::connect(&s.addr).unwrap();
    let expected: Vec<serde_json::Value> = bodies.iter().map(|b| alone.request("POST", "/api/predict", Some("application/json"), b).unwrap().json()).collect();
    std::thread::scope(|scope| {
        for t in 0..8 {
            let (bodies, expected, addr) = (&bodies, &expected, &s.addr);
            scope.spawn(move || {
                let mut c = Client::connect(addr).unwrap();
                for k in 0..25 {
                    let i = (t * 7 + k * 3) % bodies.len();
                    let r = c.request("POST", "/api/predict", Some("application/json"), &bodies[i]).unwrap();
                    assert_eq!(r.status, 200, "{}", r.text());
                    let v = r.json();
                    assert_eq!(v["digit"], expected[i]["digit"], "image {i}");
                    for (x, y) in v["probabilities"].as_array().unwrap().iter().zip(expected[i]["probabilities"].as_array().unwrap()) {
                        assert!((x.as_f64().unwrap() - y.as_f64().unwrap()).abs() < 1e-5, "image {i}");
                    }
                }
            });
        }
    });
}

/// A request still uploading when the deadline passes gets 504 with a JSON error.
#[test]
fn a_request_over_the_deadline_gets_504() {
    let s = start(&["--workers", "1", "--timeout", "0.5"]);
    let mut c = Client::connect(&s.addr).unwrap();
    c.stream().write_all(b"POST /api/predict HTTP/1.1\r\nHost: localhost\r\nContent-Type: image/png\r\nContent-Length: 1000\r\n\r\n\x89PNG").unwrap();
    let t = Instant::now();
    let r = c.read_response().unwrap();
    assert_error(&r, 504, "limit of 0.5 s", "a stalled upload");
    assert!(t.elapsed() < Duration::from_secs(5));
}

/// SIGTERM stops the server after the request in flight is answered.
#[test]
fn sigterm_finishes_the_request_in_flight_then_exits() {
    let test = mnist_test();
    let mut s = start(&["--workers", "1"]);
    let body = pixels_json(test.image(0));
    let mut c = Client::connect(&s.addr).unwrap();
    // Half the request now, SIGTERM, then the rest.
    let head = format!("POST /api/predict HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n", body.len());
    c.stream().write_all(head.as_bytes()).unwrap();
    c.stream().write_all(&body[..100]).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let kill = std::process::Command::new("kill").args(["-TERM", &s.child.id().to_string()]).status().unwrap();
    assert!(kill.success());
    std::thread::sleep(Duration::from_millis(300));
    c.stream().write_all(&body[100..]).unwrap();
    let r = c.read_response().unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["digit"], test.labels[0].to_string());
    drop(c);
    let t = Instant::now();
    let status = loop {
        if let Some(st) = s.child.try_wait().unwrap() {
            break st;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "the server did not stop");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    assert!(Client::connect(&s.addr).is_err(), "no longer listening");
}

// ---------------------------------------------------------------------------------------------
// train --dashboard
// ---------------------------------------------------------------------------------------------

fn train_args<'a>(data: &'a str, out: &'a str) -> Vec<&'a str> {
    vec!["train", "--arch", "scratch8", "--data", data, "--epochs", "2", "--val-split", "50", "--batch-size", "32", "--out", out]
}

/// The child's exit status once it ends; killed, and a panic with `why()`, after `limit`.
fn exit_within(child: &mut std::process::Child, limit: Duration, why: impl Fn() -> String) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{}", why());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_dashboard_stays_after_training_until_ctrl_c() {
    let dir = common::temp_dir("dashboard");
    common::write_mnist_subset(&dir, 250, 10);
    let (data, out) = (dir.to_str().unwrap(), dir.join("m.safetensors"));
    let mut args = train_args(data, out.to_str().unwrap());
    args.extend(["--dashboard", "127.0.0.1:0"]);
    let mut child = Command::new(binary()).args(&args).env("RAYON_NUM_THREADS", "2").stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("binary runs");
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
    let v = request(&addr, "GET", "/api/progress", None, b"").unwrap().json();
    assert_eq!(v["state"]["status"], "finished");
    assert_eq!(v["state"]["history"].as_array().unwrap().len(), 2);
    assert!(!v["points"].as_array().unwrap().is_empty());
    assert!(request(&addr, "GET", "/", None, b"").unwrap().text().contains("loss-chart"));
    assert!(out.is_file(), "the model is written before the page waits");
    // The page's server closes connections that send nothing, as `serve` does.
    let mut silent = std::net::TcpStream::connect(&addr).unwrap();
    silent.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    assert!(common::http::closed_by_server(&mut silent), "a silent connection to the dashboard stayed open");
    assert!(child.try_wait().unwrap().is_none(), "train --dashboard exited while the page stays");

    // Ctrl-C: a clean exit, soon.
    let interrupted = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(interrupted.success());
    let status = exit_within(&mut child, Duration::from_secs(10), || "train --dashboard did not stop within 10 s of SIGINT".into());
    assert!(status.success(), "exit status after Ctrl-C: {status}");
    wait_for("dashboard: stopped");
    reader.join().unwrap();
    assert!(request(&addr, "GET", "/api/progress", None, b"").is_err(), "the page is still served after the process ended");
}

#[test]
fn without_the_dashboard_train_ends_at_once() {
    let dir = common::temp_dir("no-dashboard");
    common::write_mnist_subset(&dir, 250, 10);
    let out = dir.join("m.safetensors");
    let log = dir.join("stderr.txt");
    let mut child = Command::new(binary())
        .args(train_args(dir.to_str().unwrap(), out.to_str().unwrap()))
        .env("RAYON_NUM_THREADS", "2")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("binary runs");
    // Generous for the training itself (a second or two); a process waiting for Ctrl-C would
    // never end.
    let status = exit_within(&mut child, Duration::from_secs(120), || {
        format!("train without --dashboard did not end: {}", std::fs::read_to_string(&log).unwrap_or_default())
    });
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
    let o = digitnet(&args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("--dashboard"), "{err}");
    assert!(o.stdout.is_empty(), "no epoch trained after a bad address: {}", String::from_utf8_lossy(&o.stdout));
}

/// Two digits written close together, whose ink passes the shape rules (narrower than
/// `MAX_ASPECT`, one group, two pieces), are "not one digit" because they read as a number:
/// the validation set's first numbers whose ink is at least `NUMBER_CHECK_ASPECT` wide. The
/// reason, the best guess and its probabilities are the same from `predict --json`, the
/// library's `Model::predict` and `/api/predict`; before the reading was consulted, these
/// came back as one confident digit.
#[test]
fn wide_ink_that_reads_as_a_number_is_said_so_by_every_path() {
    use digitnet::data::scenes::{held_out, validation_non_digit, NotADigit};
    use digitnet::inference::{Model, MAX_ASPECT, NUMBER_CHECK_ASPECT};
    let train = Dataset::load_idx(&shipped_mnist_dir(), Split::Train, true).unwrap();
    let held = held_out(&train);
    let mut model = Model::builtin().unwrap();
    let dir = common::temp_dir("serve-number");
    // The numbers whose ink the shape rules let through as one digit.
    let mut chosen = Vec::new();
    for k in 0..40 {
        let bytes = validation_non_digit(&train, &held, NotADigit::Number, k, 480);
        let g = digitnet::vision::decode_luma(&bytes, "number").unwrap();
        let Ok((_, Some(found))) = model.examine(&g) else { continue };
        if found.side_by_side <= 1 && found.pieces <= 2 && (NUMBER_CHECK_ASPECT..MAX_ASPECT).contains(&found.aspect) {
            chosen.push((k, bytes, model.predict(&g).unwrap()));
        }
        if chosen.len() == 2 {
            break;
        }
    }
    assert_eq!(chosen.len(), 2, "two numbers the shape rules let through");
    let s = start(&["--workers", "1"]);
    for (k, bytes, library) in &chosen {
        let reason = library.not_a_digit.as_deref().unwrap_or_else(|| panic!("number {k}: the library says one digit, {library:?}"));
        assert!(reason.starts_with("it reads as the number "), "number {k}: {reason}");
        let file = dir.join(format!("number-{k}.jpg"));
        std::fs::write(&file, bytes).unwrap();
        let cli = digitnet(&["predict", "--json", file.to_str().unwrap()]);
        assert!(cli.status.success(), "{}", String::from_utf8_lossy(&cli.stderr));
        let cli: serde_json::Value = serde_json::from_slice(&cli.stdout).unwrap();
        let served = post(&s, "/api/predict", Some("image/jpeg"), bytes);
        assert_eq!(served.status, 200, "{}", served.text());
        let served = served.json();
        for answer in [&cli[0], &served] {
            assert_eq!(answer["not_a_digit"], true, "number {k}: {answer}");
            assert_eq!(answer["reason"], reason, "number {k}");
            assert_eq!(answer["digit"], library.label.as_str(), "number {k}");
            let p: Vec<f32> = answer["probabilities"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
            assert_eq!(p, library.probabilities, "number {k}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
