//! Writes the photos the browser test (`web/test.sh`) uploads, into `web/fixtures/`:
//! `number.png`, a photo-like rendering of MNIST test digits 0–4 ("72104") on tinted paper,
//! `digit.png`, test digit 1 (a "2"), and `rotated.png`, that digit turned 30° counter-clockwise.
//! Test digits: the built-in models never trained on them.
//!
//! Run: `cargo run --release --example web_fixtures` (source in `tools/`)`

use digitnet::data::render::Canvas;
use digitnet::data::{shipped_mnist_dir, Dataset, Split};
use digitnet::init::Rng;

fn main() {
    let test = Dataset::load_idx(&shipped_mnist_dir(), Split::Test, true).expect("shipped MNIST");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("web/fixtures");
    std::fs::create_dir_all(&dir).expect("web/fixtures");
    let mut rng = Rng::new(5);
    let mut number = Canvas::lit_paper(540, 150, &mut rng);
    for k in 0..5 {
        number.pen(test.image(k), 3, 20 + k * 100, 20 + rng.below(30));
    }
    number.image().save(dir.join("number.png")).expect("writing number.png");
    let mut digit = Canvas::lit_paper(150, 140, &mut rng);
    digit.pen(test.image(1), 4, 15, 10);
    digit.image().save(dir.join("digit.png")).expect("writing digit.png");
    let mut rotated = vec![0u8; 784];
    digitnet::vision::rotate::rotate_into(test.image(1), &mut rotated, 28, 28, 30.0, 0);
    let mut photo = Canvas::lit_paper(150, 140, &mut rng);
    photo.pen(&rotated, 4, 15, 10);
    photo.image().save(dir.join("rotated.png")).expect("writing rotated.png");
    println!("wrote {}/number.png (72104), digit.png (2) and rotated.png (the 2 turned 30° counter-clockwise)", dir.display());
}
