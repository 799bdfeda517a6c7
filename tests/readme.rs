//! README cannot drift (issue #17): every `digitnet …` and `curl …` line of README's `sh` blocks
//! runs here as written, from a scratch folder that sees the repository's `web/`, `tests/`,
//! `data/` and `models/`, with the built binary first on the PATH.
//!
//! - A line whose comment says `# → TEXT` must print TEXT (up to the first run of three spaces).
//! - Training lines are shortened, and only that: `--epochs 1 --limit 600` (a resumed run keeps
//!   its own settings).
//! - `digitnet serve` starts the server on a free port (`--addr 127.0.0.1:0`), and the `curl`
//!   lines after it go to that address; each must answer 200.
//! - Other lines (`cargo …`, `pip …`, scripts) set up a machine and are run by CI itself.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A command line of a README `sh` block and the output its comment promises.
struct Line {
    number: usize,
    command: String,
    expect: Option<String>,
}

/// Splits a shell line at its comment: the first `#` outside quotes that follows a space.
fn split_comment(line: &str) -> (&str, Option<&str>) {
    let (mut single, mut double) = (false, false);
    let mut previous = ' ';
    for (i, c) in line.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '#' if !single && !double && previous.is_whitespace() => return (line[..i].trim_end(), Some(line[i + 1..].trim())),
            _ => {}
        }
        previous = c;
    }
    (line.trim_end(), None)
}

fn readme_lines() -> Vec<Line> {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let mut lines = Vec::new();
    let mut in_sh = false;
    for (i, raw) in text.lines().enumerate() {
        let t = raw.trim();
        if t.starts_with("```") {
            in_sh = !in_sh && t == "```sh";
            continue;
        }
        if !in_sh || t.is_empty() || t.starts_with('#') {
            continue;
        }
        let (command, comment) = split_comment(t);
        let expect = comment.and_then(|c| c.strip_prefix('→')).map(|e| e.trim().split("   ").next().unwrap().trim().to_string());
        lines.push(Line { number: i + 1, command: command.to_string(), expect });
    }
    lines
}

/// The training lines, shortened: one epoch on 600 images.
fn shortened(command: &str) -> String {
    let words: Vec<&str> = command.split_whitespace().collect();
    let trains = matches!(words.get(1), Some(&"train") | Some(&"finetune") | Some(&"sweep")) && !words.contains(&"--resume");
    if !trains {
        return command.to_string();
    }
    let mut out = Vec::new();
    let mut skip = false;
    for w in &words {
        if skip {
            skip = false;
            continue;
        }
        if *w == "--epochs" || *w == "--limit" {
            skip = true;
            continue;
        }
        out.push(*w);
    }
    format!("{} --epochs 1 --limit 600", out.join(" "))
}

fn shell(dir: &Path, command: &str) -> std::process::Output {
    let bin = Path::new(env!("CARGO_BIN_EXE_digitnet")).parent().unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    Command::new("sh").arg("-c").arg(command).current_dir(dir).env("PATH", path).output().unwrap()
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `digitnet serve …` on a free port; returns it and its address.
fn serve(dir: &Path, command: &str) -> (Server, String) {
    let args: Vec<&str> = command.split_whitespace().skip(1).collect();
    let mut child = Command::new(env!("CARGO_BIN_EXE_digitnet"))
        .args(&args)
        .args(["--addr", "127.0.0.1:0"])
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    assert!(first.contains("listening on http://"), "`{command}` printed {first:?}");
    let addr = first.split("http://").nth(1).unwrap().split_whitespace().next().unwrap().to_string();
    (Server(child), addr)
}

#[test]
fn every_readme_command_runs_as_written() {
    let dir = common::temp_dir("readme");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    for shared in ["web", "tests", "data", "models", "docs"] {
        std::os::unix::fs::symlink(repo.join(shared), dir.join(shared)).unwrap();
    }
    let have_curl = Command::new("curl").arg("--version").output().is_ok_and(|o| o.status.success());
    let lines = readme_lines();
    assert!(lines.len() > 20, "README's sh blocks hold the examples: found {}", lines.len());
    let mut server: Option<(Server, String)> = None;
    let (mut ran, mut curls) = (0, 0);
    for line in &lines {
        let first = line.command.split_whitespace().next().unwrap();
        let context = format!("README.md:{}: `{}`", line.number, line.command);
        match first {
            "digitnet" if line.command.split_whitespace().nth(1) == Some("serve") => {
                drop(server.take()); // the previous one stops first
                server = Some(serve(&dir, &line.command));
            }
            "digitnet" => {
                let o = shell(&dir, &shortened(&line.command));
                let out = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
                assert!(o.status.success(), "{context} failed:\n{out}");
                if let Some(expect) = &line.expect {
                    assert!(out.contains(expect.as_str()), "{context} should print {expect:?}, printed:\n{out}");
                }
                ran += 1;
            }
            "curl" if !have_curl => eprintln!("{context}: not run, curl is not installed"),
            "curl" => {
                let (_, addr) = server.as_ref().unwrap_or_else(|| panic!("{context}: no `digitnet serve` line before it"));
                let command = line.command.replacen("curl ", "curl -sS -w '\\n%{http_code}' ", 1).replace("127.0.0.1:8080", addr);
                let o = shell(&dir, &command);
                let out = String::from_utf8_lossy(&o.stdout);
                assert!(o.status.success(), "{context}: {}", String::from_utf8_lossy(&o.stderr));
                assert_eq!(out.lines().last(), Some("200"), "{context} answered:\n{out}");
                curls += 1;
            }
            _ => eprintln!("{context}: not run here (machine set-up; CI runs it)"),
        }
    }
    assert!(ran >= 15, "ran only {ran} digitnet lines");
    assert!(!have_curl || curls >= 8, "ran only {curls} curl lines");
}

#[test]
fn comments_split_outside_quotes() {
    assert_eq!(split_comment("digitnet x   # → a: 1"), ("digitnet x", Some("→ a: 1")));
    assert_eq!(split_comment("curl -d '{\"a\": \"#\"}' u"), ("curl -d '{\"a\": \"#\"}' u", None));
    assert_eq!(split_comment("curl 'http://h/p#frag' # c"), ("curl 'http://h/p#frag'", Some("c")));
    assert_eq!(shortened("digitnet train --arch keras --epochs 12 --out r.st"), "digitnet train --arch keras --out r.st --epochs 1 --limit 600");
    assert_eq!(shortened("digitnet train --resume r.ckpt"), "digitnet train --resume r.ckpt");
}
