//! `digitnet data …`.

use crate::common::load_split;
use anyhow::{bail, Result};
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
            let split = match split.as_str() {
                "train" => Split::Train,
                "test" => Split::Test,
                other => bail!("--split must be train or test, got '{other}'"),
            };
            let d = load_split(data.as_ref(), split)?;
            let names: Vec<String> = (0..d.classes()).map(|c| c.to_string()).collect();
            let n = digitnet::data::folder::export(&d, &names, &out)?;
            println!("wrote {n} images in {} class folders under {}", names.len(), out.display());
            Ok(ExitCode::SUCCESS)
        }
        DataCommand::Show { n, out, data, seed } => {
            if n == 0 || n > 2000 {
                bail!("--n must be between 1 and 2000, got {n}");
            }
            let d = load_split(data.as_ref(), Split::Train)?;
            let mut idx: Vec<usize> = (0..d.len()).collect();
            Rng::new(seed).shuffle(&mut idx);
            idx.truncate(n);
            crate::train::check_writable(&out)?;
            let images: Vec<&[u8]> = idx.iter().map(|&i| d.image(i)).collect();
            let captions: Vec<String> = idx.iter().map(|&i| d.labels[i].to_string()).collect();
            digitnet::plots::image_grid(&out, &images, d.rows, d.cols, &captions, 10)?;
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
            digitnet::plots::bar_chart(&hist, "Training labels", &labels, &counts.iter().map(|&c| c as f64).collect::<Vec<_>>())?;
            println!("grid: {}; histogram: {}", out.display(), hist.display());
            Ok(ExitCode::SUCCESS)
        }
    }
}
