//! Real photos' troubles through the binary (issue 16): for each kind — a photo stored
//! sideways with an EXIF orientation tag, a strong shadow, the sheet's edge and the table at
//! the border, squared and ruled paper, a fine pen, a thick marker — ten small generated
//! photos (`data::scenes`, the first ten of `photo_validation`'s set at 480 pixels) of MNIST
//! training digits the built-in model held out, read with `predict --json`. And what is not
//! one digit (numbers, cartoon animals) answered as such.
//!
//! The floors are what the pipeline reads today less one photo (today: plain 8, EXIF 10,
//! shadow 6, band 8, graph 10, ruled 10, fine pen 4, thick marker 9 of 10; numbers 8/10 and
//! animals 10/10 said not to be one digit). Before issue 16's work (the `main` binary of
//! 5 December 2026) these same fixtures read EXIF 3, shadow 0, band 0, graph 3, ruled 5,
//! fine pen 4 and thick marker 9 of 10, and no answer said "not one digit": every test here
//! but the fine pen's and thick marker's (guards: they read as well before) failed then.

mod common;

use digitnet::data::scenes::{digit_photo, held_out, validation_non_digit, validation_photo, NotADigit, Trouble};
use digitnet::data::{shipped_mnist_dir, Dataset, Split};
use serde_json::Value;

const N: usize = 10;
const LONG: usize = 480;

/// Writes the fixtures, runs `predict --json` on them, and returns each answer with its label.
fn answers(name: &str, photos: Vec<(Vec<u8>, Option<u8>)>) -> Vec<(Value, Option<u8>)> {
    let dir = common::temp_dir(name);
    let mut paths = Vec::new();
    for (k, (bytes, _)) in photos.iter().enumerate() {
        let ext = if bytes.starts_with(&[0xFF, 0xD8]) { "jpg" } else { "png" };
        let p = dir.join(format!("{name}-{k:03}.{ext}"));
        std::fs::write(&p, bytes).unwrap();
        paths.push(p.display().to_string());
    }
    let mut args = vec!["predict", "--json"];
    args.extend(paths.iter().map(String::as_str));
    let out = common::digitnet(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    let json: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    assert_eq!(json.len(), photos.len());
    let _ = std::fs::remove_dir_all(&dir);
    json.into_iter().zip(photos.into_iter().map(|p| p.1)).collect()
}

fn train() -> Dataset {
    Dataset::load_idx(&shipped_mnist_dir(), Split::Train, false).unwrap()
}

/// How many of the kind's fixtures are read right, printed with the wrong ones.
fn read_right(trouble: Trouble) -> usize {
    read_right_of(trouble, 0..N, LONG)
}

/// How many of the kind's photos `ks` at `long` pixels are read right.
fn read_right_of(trouble: Trouble, ks: impl IntoIterator<Item = usize>, long: usize) -> usize {
    let train = train();
    let held = held_out(&train);
    let ks: Vec<usize> = ks.into_iter().collect();
    let photos: Vec<_> = ks.iter().map(|&k| validation_photo(&train, &held, trouble, k, long)).map(|(b, l)| (b, Some(l))).collect();
    let n = photos.len();
    // A folder of its own per size and first photo: two tests may read the same kind at once.
    let answers = answers(&format!("{}-{long}-{}", trouble.name(), ks.first().copied().unwrap_or(0)), photos);
    let mut right = 0;
    for (a, label) in &answers {
        let want = label.unwrap().to_string();
        if a["digit"].as_str() == Some(&want) {
            right += 1;
        } else {
            println!("{}: a {want}, read {a}", trouble.name());
        }
    }
    println!("{}: {right}/{n} right", trouble.name());
    right
}

#[test]
fn exif_rotated_photos_are_read_upright() {
    assert!(read_right(Trouble::Exif) >= 9);
}

#[test]
fn digits_under_a_strong_shadow_are_found() {
    // 6 of 10 before the coarse top-hat polarity (`vision::ink::tophat_polarity`), 9 after.
    assert!(read_right(Trouble::Shadow) >= 8);
}

#[test]
fn the_sheet_s_edge_is_not_the_digit() {
    // 8 of 10 before the coarse top-hat polarity (a marker digit beside a dark band of table
    // was read in the band's polarity), 9 after.
    assert!(read_right(Trouble::Band) >= 9);
}

#[test]
fn graph_paper_lines_are_removed() {
    assert!(read_right(Trouble::Graph) >= 9);
}

#[test]
fn ruled_paper_lines_are_removed() {
    assert!(read_right(Trouble::Ruled) >= 9);
}

#[test]
fn fine_pens_and_thick_markers_are_read() {
    // A guard: at this size (360 pixels on the shorter side, under
    // `vision::ink::MIN_SIDE_FOR_FAINT_INK`) fine pens read as before.
    assert!(read_right(Trouble::Thin) >= 4);
    assert!(read_right(Trouble::Thick) >= 8);
}

/// Shadows whose edge runs out at the photo's edge, on 1000-pixel photos: with the paper's
/// level taken over windows clipped at the edges, the corner between the shadow's edge and the
/// photo's was a wedge of "ink" larger than the digit, chosen as the digit or joined to it
/// (these three validation photos were read 3, 5 and 2 before
/// `vision::ink::closing_edge_replicated`).
#[test]
fn shadows_running_out_at_the_edge_leave_no_wedge_of_ink() {
    assert_eq!(read_right_of(Trouble::Shadow, [1, 32, 36], 1000), 3);
}

/// Shadows over most of the border and thin pens in shadow, on 1000-pixel photos: two whose
/// top-hats lean to dark ink by less than 3 to 1 at the coarse window, where the border (mostly
/// shadow) then said light ink (read 0 and 1 before `vision::ink::COARSE_POLARITY_RATIO`), and
/// four where the local flattening's Otsu threshold split the paper's noise ("no digit found"
/// before the faint-ink search was used there). Photos 16 and 35 of the first forty, 56, 78, 83
/// and 118 of the next (all six read wrong before; one may go with another CPU's rounding).
#[test]
fn shadowed_photos_keep_their_polarity_and_their_thin_pens() {
    assert!(read_right_of(Trouble::Shadow, [16, 35, 56, 78, 83, 118], 1000) >= 5);
}

/// A digit beside the shade of a strong shadow, on 1000-pixel photos: the local flattening
/// divides the paper's level out, which amplifies the camera's noise in the shade, and Otsu's
/// threshold of the whole image cut the shade into specks that joined the digit ("a drawing of
/// 274 separate parts"). With the noise evened out by paper level
/// (`vision::ink::even_out_noise`) they are read right: photos 37 of the first forty, 63 and
/// 157 of the next, 229 and 240 of later ones (all five read wrong before).
#[test]
fn the_shade_of_a_shadow_is_not_cut_into_specks() {
    assert!(read_right_of(Trouble::Shadow, [37, 63, 157, 229, 240], 1000) >= 4);
}

/// Ruled photos at 1000 pixels where only the one or two lines the digit touches are ink
/// (the others too faint): those were not taken for a ruling (fewer than three lines), and
/// joined the digit into a piece 2.5–8 times as wide as tall. Photos 30 and 39 of the first
/// forty, 45, 63, 65 and 73 of the next (all six read wrong with `RULED_LINES` = 3).
#[test]
fn two_ruled_lines_touching_the_digit_are_erased() {
    assert!(read_right_of(Trouble::Ruled, [30, 39, 45, 63, 65, 73], 1000) >= 5);
}

/// Faint fine-pen digits on 1000-pixel photos, where the ink is so small a share of the
/// photo that Otsu's threshold splits the paper's noise (`vision::ink::hysteresis_faint`):
/// these five validation photos were all "no digit found" before, and are read right now.
#[test]
fn faint_fine_pen_digits_on_large_photos_are_found() {
    assert!(read_right_of(Trouble::Thin, [7, 11, 13, 19, 38], 1000) >= 4);
}

/// Fainter still: the paper's noise above the faint-ink threshold outweighed the digit's piece
/// until the threshold was tried again on `F` smoothed by a 3×3 box. Photo 4 of the first forty,
/// 57, 71, 73, 79 and 118 of the next: all six "no digit found" before.
#[test]
fn the_faintest_fine_pen_digits_are_found_in_smoothed_ink() {
    assert!(read_right_of(Trouble::Thin, [4, 57, 71, 73, 79, 118], 1000) >= 5);
}

/// Blank 1000-pixel pages (the validation scenes with nothing written: plain, EXIF-rotated,
/// graph and ruled paper, the fine pen's faint light) give no confident digit: "no digit
/// found" or "not one digit". The faint-ink search and its smoothed retry must not make a
/// digit of the paper's grain or its lines.
#[test]
fn blank_large_pages_give_no_confident_digit() {
    let blank = [0u8; 784];
    let mut photos = Vec::new();
    for trouble in [Trouble::Plain, Trouble::Exif, Trouble::Graph, Trouble::Ruled, Trouble::Thin] {
        for k in 0..3u64 {
            let mut rng = digitnet::init::Rng::new(9000 + 7 * k + 1000 * trouble as u64);
            photos.push((digit_photo(&blank, 0, trouble, 1000, &mut rng), None));
        }
    }
    let answers = answers("blank-pages", photos);
    let confident: Vec<_> = answers.iter().filter(|(a, _)| a["error"].is_null() && a["not_a_digit"] == Value::Bool(false)).collect();
    assert!(confident.is_empty(), "blank pages read as digits: {confident:?}");
    assert!(answers.iter().any(|(a, _)| a["error"].as_str().is_some_and(|e| e.contains("no digit found"))), "{answers:?}");
}

/// Numbers and cartoon animals are answered "not one digit" (with a reason, the best guess
/// kept in the usual keys), and plain photos of one digit are not.
#[test]
fn not_one_digit_is_said_so() {
    let train = train();
    let held = held_out(&train);
    for what in [NotADigit::Number, NotADigit::Animal] {
        let photos = (0..N).map(|k| (validation_non_digit(&train, &held, what, k, LONG), None)).collect();
        let answers = answers(&format!("{what:?}"), photos);
        let said = answers.iter().filter(|(a, _)| a["not_a_digit"] == Value::Bool(true) && a["reason"].is_string() && a["digit"].is_string()).count();
        println!("{what:?}: {said}/{N} said not one digit");
        // Numbers: 8 of 10 before wide ink was also read as a number (two of them, two digits
        // written close together, came back as one confident digit); 10 since.
        let floor = if what == NotADigit::Number { 10 } else { 9 };
        assert!(said >= floor, "{what:?}: only {said}/{N}: {answers:?}");
    }
    let photos = (0..N).map(|k| validation_photo(&train, &held, Trouble::Plain, k, LONG)).map(|(b, l)| (b, Some(l))).collect();
    let answers = answers("plain", photos);
    let flagged = answers.iter().filter(|(a, _)| a["not_a_digit"] != Value::Bool(false)).count();
    assert!(flagged <= 1, "{flagged} plain digits flagged: {answers:?}");
}

/// The text output says it too, on one line per image.
#[test]
fn not_one_digit_in_text() {
    let train = train();
    let held = held_out(&train);
    let dir = common::temp_dir("number-text");
    let p = dir.join("number.jpg");
    std::fs::write(&p, validation_non_digit(&train, &held, NotADigit::Number, 0, LONG)).unwrap();
    let out = common::digitnet(&["predict", p.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("not one digit") && text.contains("best guess"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}
