//! `digitnet data …`.

use crate::common::load_split;
use anyhow::{bail, Context, Result};
use clap::Subcommand;
use digitnet::data::Split;
use digitnet::init::Rng;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum DataCommand {
    /// Write MNIST (or --data) as folders of PNGs, one per class.
    Export {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value = "test")]
        split: String,
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// Digits rotated by random angles in ±45° (counter-clockwise positive) as PNGs, with
    /// `angles.csv` (file, digit, angle): the rotation task's data, like MATLAB's
    /// digitTrain4DArrayData.
    Rotated {
        /// How many digits (drawn at random from the split).
        #[arg(long, default_value_t = 5000)]
        n: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Which MNIST images to rotate: train (for training) or test (for evaluation only).
        #[arg(long, default_value = "train")]
        split: String,
        /// Write each turned digit as a photo of it (pen or pencil on tinted paper, uneven
        /// light, noise, blur, JPEG, PNG or BMP, 40–300 px tall) instead of its 28×28 image.
        #[arg(long)]
        photos: bool,
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// Realistic images of handwritten numbers (scanned cheque amounts: touching digits,
    /// separators, final marks, underlines, wavy background patterns) as PNGs, with
    /// `labels.json` (file → digits) and `raw.json` (file → what is written, marks included).
    Numbers {
        /// How many images.
        #[arg(long, default_value_t = 200)]
        n: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Which MNIST digits to write with: train (for anything that chooses) or test (for
        /// measuring only).
        #[arg(long, default_value = "train")]
        split: String,
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// A grid of random training images with their labels, and the label histogram.
    Show {
        /// How many images in the grid.
        #[arg(long, default_value_t = 100)]
        n: usize,
        /// Where to write the grid (the histogram goes beside it as …-labels.png).
        #[arg(long, default_value = "runs/data.png")]
        out: PathBuf,
        #[arg(long)]
        data: Option<PathBuf>,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

pub fn run(c: DataCommand) -> Result<ExitCode> {
    match c {
        DataCommand::Export { out, split, data } => {
            let d = load_split(data.as_ref(), parse_split(&split)?)?;
            let names: Vec<String> = (0..d.classes()).map(|c| c.to_string()).collect();
            let n = digitnet::data::folder::export(&d, &names, &out)?;
            println!("wrote {n} images in {} class folders under {}", names.len(), out.display());
            Ok(ExitCode::SUCCESS)
        }
        DataCommand::Rotated { n, seed, split, photos, out, data } => {
            let d = load_split(data.as_ref(), parse_split(&split)?)?;
            if n == 0 || n > d.len() {
                bail!("--n must be between 1 and {} (the images in the split), got {n}", d.len());
            }
            let mut idx: Vec<usize> = (0..d.len()).collect();
            Rng::new(seed).shuffle(&mut idx);
            idx.truncate(n);
            let set = digitnet::tasks::rotation::RotatedSet::generate(&d, &idx, digitnet::tasks::rotation::MAX_DEGREES, seed);
            std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
            let mut csv = String::from("file,digit,angle\n");
            let width = n.to_string().len().max(5);
            let mut rng = Rng::new(seed ^ 0x9e37_79b9_7f4a_7c15);
            for (k, (&angle, &label)) in set.angles.iter().zip(&set.data.labels).enumerate() {
                let name = if photos {
                    let bytes = digitnet::data::render::photo(&[set.data.image(k)], &mut rng);
                    let ext = image::guess_format(&bytes).ok().and_then(|f| f.extensions_str().first().copied()).unwrap_or("png");
                    let name = format!("{k:0width$}.{ext}");
                    std::fs::write(out.join(&name), &bytes).with_context(|| format!("writing {}", out.join(&name).display()))?;
                    name
                } else {
                    let name = format!("{k:0width$}.png");
                    let img = image::GrayImage::from_raw(d.cols as u32, d.rows as u32, set.data.image(k).to_vec()).context("image buffer")?;
                    img.save(out.join(&name)).with_context(|| format!("writing {}", out.join(&name).display()))?;
                    name
                };
                csv += &format!("{name},{label},{angle:.4}\n");
            }
            digitnet::network::model_file::write_atomic(&out.join("angles.csv"), csv.as_bytes())?;
            println!("wrote {n} rotated digit{} and angles.csv to {}", if photos { " photos" } else { "s" }, out.display());
            Ok(ExitCode::SUCCESS)
        }
        DataCommand::Numbers { n, seed, split, out, data } => write_numbers(n, seed, &split, &out, data.as_ref()),
        DataCommand::Show { n, out, data, seed } => {
            if n == 0 || n > 2000 {
                bail!("--n must be between 1 and 2000, got {n}");
            }
            let d = load_split(data.as_ref(), Split::Train)?;
            let mut idx: Vec<usize> = (0..d.len()).collect();
            Rng::new(seed).shuffle(&mut idx);
            idx.truncate(n);
            crate::common::check_writable(&out)?;
            let images: Vec<&[u8]> = idx.iter().map(|&i| d.image(i)).collect();
            let captions: Vec<String> = idx.iter().map(|&i| d.labels[i].to_string()).collect();
            digitnet::report::plots::image_grid(&out, &images, d.rows, d.cols, &captions, 10)?;
            let k = d.classes();
            let mut counts = vec![0usize; k];
            for &l in &d.labels {
                counts[l as usize] += 1;
            }
            println!("{} training images, {} classes", d.len(), k);
            println!("label  count");
            for (c, n) in counts.iter().enumerate() {
                println!("{c:>5}  {n:>5}");
            }
            let stem = out.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "data".into());
            let hist = out.with_file_name(format!("{stem}-labels.png"));
            let labels: Vec<String> = (0..k).map(|c| c.to_string()).collect();
            digitnet::report::plots::bar_chart(&hist, "Training labels", &labels, &counts.iter().map(|&c| c as f64).collect::<Vec<_>>())?;
            println!("grid: {}; histogram: {}", out.display(), hist.display());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `data numbers`: `n` generated number images and their labels.
fn write_numbers(n: usize, seed: u64, split: &str, out: &std::path::Path, data: Option<&PathBuf>) -> Result<ExitCode> {
    if n == 0 || n > 1_000_000 {
        bail!("--n must be between 1 and 1000000, got {n}");
    }
    let d = load_split(data, parse_split(split)?)?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let mut rng = Rng::new(seed);
    let width = n.to_string().len().max(5);
    let (mut labels, mut raw) = (serde_json::Map::new(), serde_json::Map::new());
    for k in 0..n {
        let number = digitnet::data::numbers::random_number(&d, &mut rng);
        let name = format!("{k:0width$}.png");
        let g = &number.image;
        let img = image::GrayImage::from_raw(g.width as u32, g.height as u32, g.pixels.clone()).context("image buffer")?;
        img.save(out.join(&name)).with_context(|| format!("writing {}", out.join(&name).display()))?;
        labels.insert(name.clone(), number.text.into());
        raw.insert(name, number.raw.into());
    }
    digitnet::network::model_file::write_atomic(&out.join("labels.json"), serde_json::to_string_pretty(&labels)?.as_bytes())?;
    digitnet::network::model_file::write_atomic(&out.join("raw.json"), serde_json::to_string_pretty(&raw)?.as_bytes())?;
    println!("wrote {n} number images, labels.json and raw.json to {}", out.display());
    Ok(ExitCode::SUCCESS)
}

fn parse_split(name: &str) -> Result<Split> {
    Ok(match name {
        "train" => Split::Train,
        "test" => Split::Test,
        other => bail!("--split must be train or test, got '{other}'"),
    })
}
