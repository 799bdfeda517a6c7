//! `digitnet sweep`: the source documents' hyperparameter comparison.

use crate::common::{fit_arch_to_data, in_pool, load_split, resolve_arch};
use anyhow::{bail, Result};
use clap::Args;
use digitnet::data::Split;
use digitnet::network::arch::Architecture;
use digitnet::training::optim::OptimizerKind;
use digitnet::training::schedule::Schedule;
use digitnet::training::{Event, Run, RunPaths, TrainConfig};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct SweepArgs {
    /// `scratch` (filters from --filters) or any architecture (then --filters is ignored).
    #[arg(long, default_value = "scratch")]
    arch: String,
    /// Filter counts for the scratch network.
    #[arg(long, value_delimiter = ',', default_value = "8,16,24")]
    filters: Vec<usize>,
    /// Learning rates.
    #[arg(long, value_delimiter = ',', default_value = "0.001,0.005,0.01")]
    lr: Vec<f32>,
    #[arg(long, default_value_t = 3)]
    epochs: usize,
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    #[arg(long, default_value_t = 5000)]
    val_split: usize,
    /// Use only the first N training images (0 = all), for a quick look.
    #[arg(long, default_value_t = 0)]
    limit: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[arg(long, default_value_t = 0)]
    threads: usize,
    #[arg(long)]
    data: Option<PathBuf>,
    /// Directory for the models, CSV and PNG.
    #[arg(long, default_value = "runs/sweep")]
    out_dir: PathBuf,
}

pub fn run(a: SweepArgs) -> Result<ExitCode> {
    in_pool(a.threads, move || run_in_pool(a))
}

fn run_in_pool(a: SweepArgs) -> Result<ExitCode> {
    if a.lr.is_empty() || a.filters.is_empty() {
        bail!("--lr and --filters need at least one value each");
    }
    if a.filters.iter().any(|&k| k == 0 || k > 512) {
        bail!("--filters must be between 1 and 512");
    }
    let mut data = load_split(a.data.as_ref(), Split::Train)?;
    if a.limit > 0 {
        data = data.take(a.limit);
    }
    crate::common::check_writable(&a.out_dir.join("x"))?;
    let archs: Vec<Architecture> =
        if a.arch == "scratch" { a.filters.iter().map(|&k| Architecture::scratch(k)).collect() } else { vec![resolve_arch(&a.arch)?] };
    let mut rows = Vec::new();
    let mut series = Vec::new();
    for arch in &archs {
        for &lr in &a.lr {
            let arch = fit_arch_to_data(arch.clone(), &data)?;
            let config = TrainConfig {
                epochs: a.epochs,
                batch_size: a.batch_size,
                lr,
                optimizer: OptimizerKind::adam(),
                weight_decay: 0.0,
                schedule: Schedule::Constant,
                class_weights: None,
                val_split: a.val_split,
                seed: a.seed,
                patience: None,
                augment: Default::default(),
                stratified: false,
                freeze: 0,
                limit: a.limit,
            };
            config.validate(data.len())?;
            let tag = format!("{}-lr{lr}", arch.name);
            let mut run = Run::new(&arch, config, RunPaths::for_model(&a.out_dir.join(format!("{tag}.safetensors"))))?;
            eprintln!("training {tag} …");
            run.fit(&data, None, |e| {
                if let Event::EpochEnd { record: r, .. } = e {
                    eprintln!("  epoch {}: val acc {:.4} loss {:.4} ({:.1}s)", r.epoch, r.val_acc, r.val_loss, r.seconds);
                }
            })?;
            let last = run.state.history.last().cloned().expect("at least one epoch");
            series.push((tag.clone(), run.state.history.iter().map(|r| (r.epoch as f64, r.val_acc)).collect::<Vec<_>>()));
            rows.push((arch.name.clone(), lr, last.val_acc, last.val_loss, run.state.best_val_acc, run.state.history.iter().map(|r| r.seconds).sum::<f64>()));
        }
    }
    println!("{:<12} {:>8} {:>10} {:>10} {:>10} {:>8}", "arch", "lr", "val_acc", "val_loss", "best_acc", "seconds");
    let mut csv = String::from("arch,lr,val_acc,val_loss,best_val_acc,seconds\n");
    for (name, lr, acc, loss, best, secs) in &rows {
        println!("{name:<12} {lr:>8} {acc:>10.4} {loss:>10.4} {best:>10.4} {secs:>8.1}");
        csv += &format!("{name},{lr},{acc:.6},{loss:.6},{best:.6},{secs:.2}\n");
    }
    // The combination to pick: the best validation accuracy any of its epochs reached.
    if let Some((name, lr, _, _, best, _)) = rows.iter().max_by(|x, y| x.4.total_cmp(&y.4)) {
        println!("best: {name} at lr {lr} (validation accuracy {best:.4})");
    }
    let csv_path = a.out_dir.join("sweep.csv");
    digitnet::network::model_file::write_atomic(&csv_path, csv.as_bytes())?;
    let png = a.out_dir.join("sweep.png");
    digitnet::report::plots::line_chart(&png, "Validation accuracy per epoch", "epoch", "validation accuracy", &series)?;
    println!("table: {}; curves: {}", csv_path.display(), png.display());
    Ok(ExitCode::SUCCESS)
}
