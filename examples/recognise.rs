//! Recognising handwriting from Rust, in a few lines: the digit in a photo, the number in a
//! photo of a number, and how far a digit is turned, with the built-in models (or a model file
//! of your own: `Model::load(path)`).
//!
//! Run: `cargo run --release --example recognise -- PHOTO...`
//! (for instance `web/fixtures/digit.png web/fixtures/number.png`).

use digitnet::inference::Model;
use std::path::Path;

fn main() -> Result<(), digitnet::Error> {
    let mut digits = Model::builtin()?;
    let mut angles = Model::builtin_rotation()?;
    for arg in std::env::args().skip(1) {
        let path = Path::new(&arg);
        // One digit: the most likely class and the two next ones.
        match digits.predict_file(path) {
            Ok(p) => {
                let others: Vec<String> = p.top(3).iter().skip(1).map(|&(class, q)| format!("{class} {:.1} %", 100.0 * q)).collect();
                println!("{arg}: digit {} ({:.1} %; then {})", p.label, 100.0 * p.confidence, others.join(", "));
            }
            Err(e) => println!("{arg}: no single digit ({e})"),
        }
        // A number: every digit, left to right.
        if let Ok(number) = digits.read_file(path) {
            println!("{arg}: reads \"{}\" ({} digits)", number.text.replace('\n', " / "), number.digits.len());
        }
        // How far the digit is turned (counter-clockwise positive).
        if let Ok(angle) = angles.angle_file(path) {
            println!("{arg}: turned {angle:.1}°");
        }
    }
    Ok(())
}
