//! The number reader on generated fixtures, one per difficulty of real documents (touching
//! digits, separators, background patterns, underlines, broken strokes, one slanted line),
//! each drawn with MNIST *test* digits by [`crate::data::numbers`] and read by the built-in
//! number reader through [`Model::read`]. Each test also reads its fixtures the old way (the
//! components of [`crate::vision::find_digits`], each box classified on its own by the
//! built-in digit classifier) and prints both, so the figure before and after stays visible (`cargo test --release --lib number_tests
//! -- --nocapture`); it asserts only on the reader.

use super::*;
use crate::data::numbers::{number_image, random_amount, Style};
use crate::data::render::mnist_test;
use crate::init::Rng;

/// The old reading: each box of `find_digits` classified on its own.
fn old_read(model: &mut Model, g: &Gray) -> String {
    let Ok(boxes) = crate::vision::find_digits(g) else { return String::new() };
    let digits: Vec<Digit> = boxes.iter().map(|b| b.image).collect();
    let p = model.classify(&digits).unwrap();
    let mut text = String::new();
    for (i, (b, p)) in boxes.iter().zip(p).enumerate() {
        if i > 0 && b.line != boxes[i - 1].line {
            text.push('\n');
        }
        text += &p.label;
    }
    text
}

/// Reads `n` numbers generated in `style` (amounts drawn at random, seed `seed`); returns how
/// many the reader and the old way read exactly.
fn measure(what: &str, style: impl Fn(&mut Rng) -> Style, n: usize, seed: u64) -> (usize, usize) {
    measure_amounts(what, style, random_amount, n, seed)
}

/// As [`measure`], with the amounts drawn by `amount`.
fn measure_amounts(what: &str, style: impl Fn(&mut Rng) -> Style, amount: impl Fn(&mut Rng) -> String, n: usize, seed: u64) -> (usize, usize) {
    let test = mnist_test();
    let mut model = Model::builtin_reader().unwrap();
    let mut digits = Model::builtin().unwrap();
    let mut rng = Rng::new(seed);
    let (mut new, mut old) = (0, 0);
    let mut misses = Vec::new();
    for _ in 0..n {
        let s = style(&mut rng);
        let text = amount(&mut rng);
        let number = number_image(&test, &text, &s, &mut rng);
        let read = model.read(&number.image).map(|r| r.text).unwrap_or_default();
        if read == number.text {
            new += 1;
        } else {
            misses.push((number.raw.clone(), read));
        }
        old += usize::from(old_read(&mut digits, &number.image) == number.text);
    }
    println!("{what}: reader {new}/{n} exact, old way {old}/{n}; reader's misses (written, read): {misses:?}");
    (new, old)
}

/// Asserts that the reader reads at least `least` of the fixtures right and that the old way
/// did not (so the fixture shows the difficulty it is named after).
fn check((new, old): (usize, usize), least: usize, n: usize) {
    assert!(new >= least, "reader: {new}/{n} exact, want at least {least}");
    assert!(old < least, "the old way reads {old}/{n}: the fixture no longer shows the difficulty");
}

fn plain(rng: &mut Rng) -> Style {
    Style::plain(rng.uniform(22.0, 34.0))
}

#[test]
fn touching_digits_are_read_apart() {
    check(measure("touching", |rng| Style { touching: 1.0, ..plain(rng) }, 30, 1), 16, 30);
}

#[test]
fn separators_and_final_marks_are_not_digits() {
    let marks = [".", ",", "-", ".-", "_"];
    check(
        measure(
            "separators",
            |rng| Style { separators: true, cents: rng.next_f32() < 0.3, end_mark: Some(marks[rng.below(marks.len())]), ..plain(rng) },
            30,
            2,
        ),
        24,
        30,
    );
}

#[test]
fn a_wavy_background_pattern_is_not_read() {
    check(measure("pattern", |rng| Style { pattern: true, ..plain(rng) }, 30, 3), 25, 30);
}

#[test]
fn an_underline_touching_the_digits_is_not_read() {
    check(measure("underline", |rng| Style { underline: true, form_line: true, ..plain(rng) }, 30, 4), 24, 30);
}

#[test]
fn broken_faint_strokes_are_joined() {
    check(measure("broken", |rng| Style { broken: true, ..plain(rng) }, 30, 5), 25, 30);
}

#[test]
fn a_slanted_uneven_amount_stays_one_line() {
    check(measure("one line", |rng| Style { slant: 0.3, gap: (0.0, 0.15), ..plain(rng) }, 30, 6), 24, 30);
}

/// An amount ending in zeros (a few digits, then two to four zeros).
fn round_amount(rng: &mut Rng) -> String {
    let lead = 1 + rng.below(3);
    let zeros = 2 + rng.below(3);
    let mut s = (1 + rng.below(9)).to_string();
    for _ in 1..lead {
        s += &rng.below(10).to_string();
    }
    s + &"0".repeat(zeros)
}

#[test]
fn zeros_written_as_one_chain_of_loops_are_read_apart() {
    check(measure_amounts("joined zeros", |rng| Style { cursive_zeros: 1.0, ..plain(rng) }, round_amount, 30, 8), 20, 30);
}

#[test]
fn marks_are_reported_in_the_raw_text() {
    let test = mnist_test();
    let mut model = Model::builtin_reader().unwrap();
    let mut rng = Rng::new(7);
    let style = Style { separators: true, ..Style::plain(30.0) };
    let number = number_image(&test, "24551", &style, &mut rng);
    assert_eq!(number.raw, "24.551".replace('.', &number.raw[2..3]));
    let r = model.read(&number.image).unwrap();
    assert_eq!(r.text, "24551");
    assert_eq!(r.raw, number.raw);
}

/// Exact reading on 300 random generated numbers (all difficulties at once, test digits).
/// Run with `cargo test --release --lib measure_generated_numbers -- --ignored --nocapture`.
#[test]
#[ignore]
fn measure_generated_numbers() {
    measure("random style", Style::random, 300, 11);
}
