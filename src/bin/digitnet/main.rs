//! `digitnet`: parse → dispatch → exit code. Each subcommand lives in its own file beside this
//! one; all the work is in the library.

mod angle;
mod bench;
mod common;
mod dashboard;
mod data_cmd;
mod eval;
mod export;
mod finetune;
mod inspect;
mod predict;
mod serve;
mod summary;
mod sweep;
mod train;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use std::process::ExitCode;

/// Convolutional neural networks for handwritten digits, every layer written by hand.
#[derive(Parser)]
#[command(name = "digitnet", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a network on MNIST (or any four-file IDX data set) with a validation split.
    Train(train::TrainArgs),
    /// Turn a trained classifier into a rotation-angle regressor (new head, frozen layers) and train it.
    Finetune(finetune::FinetuneArgs),
    /// Evaluate a saved model: accuracy, confusion matrix, classification report, ROC-AUC.
    Eval(eval::EvalArgs),
    /// Write a model as an ONNX file (class scores out, the model's normalisation inside).
    Export(export::ExportArgs),
    /// Print a network's layers, output shapes and parameter counts.
    Summary(summary::SummaryArgs),
    /// Look at the data set.
    #[command(subcommand)]
    Data(data_cmd::DataCommand),
    /// Train a grid of hyperparameters and compare them on the validation split.
    Sweep(sweep::SweepArgs),
    /// Measure training and inference speed the way the PyTorch/TensorFlow peers do.
    Bench(bench::BenchArgs),
    /// Recognise the digit in each photo (the built-in model unless --model is given).
    Predict(predict::PredictArgs),
    /// Read every digit in photos of numbers, left to right and line by line.
    Read(predict::ReadArgs),
    /// The rotation angle of the digit in each photo (the built-in rotation model unless --model is given).
    Angle(angle::AngleArgs),
    /// Straighten the digit in each photo: rotate it back by its predicted angle.
    Deskew(angle::DeskewArgs),
    /// Feature maps of every layer for one image, and the first layer's filters, as PNG grids.
    Inspect(inspect::InspectArgs),
    /// Apply a classical spatial filter (averaging, Laplacian, Sobel, sharpen) to an image.
    Filter(inspect::FilterArgs),
    /// Serve the drawing page and the JSON API (predict, read, angle) over HTTP.
    Serve(serve::ServeArgs),
}

/// Lets every (sub)command take a negative number as a flag's value.
fn allow_negative_numbers(command: clap::Command) -> clap::Command {
    command.allow_negative_numbers(true).mut_subcommands(allow_negative_numbers)
}

/// clap's message for a number a count flag cannot hold ("invalid digit found in string" for
/// `--epochs -1` or `--epochs 2.5`), said in our words: the flag, what it takes, the value.
fn count_error(e: &clap::Error) -> Option<String> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if e.kind() != ErrorKind::ValueValidation {
        return None;
    }
    let (Some(ContextValue::String(arg)), Some(ContextValue::String(value))) = (e.get(ContextKind::InvalidArg), e.get(ContextKind::InvalidValue)) else {
        return None;
    };
    value.trim().parse::<f64>().ok()?;
    let flag = arg.split_whitespace().next().unwrap_or(arg);
    Some(format!("{flag} takes a whole number, 0 or more; got {value}"))
}

/// `println!` panics when stdout is a closed pipe (`digitnet predict … | head -1`) or a full
/// disk (`> /dev/full`), `eprintln!` when stderr is (`2>&1 | head -1`). This hook ends those
/// quietly as a pipeline expects — exit 141, as if SIGPIPE had stopped the process — or with
/// a one-line error (exit 1 without one when stderr itself failed); other panics are reported
/// as before.
fn end_quietly_on_stdout_errors() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload.downcast_ref::<String>().map(String::as_str).or_else(|| payload.downcast_ref::<&str>().copied()).unwrap_or("");
        if let Some(reason) = message.strip_prefix("failed printing to stdout: ") {
            if reason.starts_with("Broken pipe") {
                std::process::exit(141);
            }
            eprintln!("error: writing to stdout: {reason}");
            std::process::exit(1);
        }
        // The same for stderr (`digitnet predict DIR 2>&1 | head -3`), where nothing can be said.
        if let Some(reason) = message.strip_prefix("failed printing to stderr: ") {
            std::process::exit(if reason.starts_with("Broken pipe") { 141 } else { 1 });
        }
        report(info)
    }));
}

fn main() -> ExitCode {
    end_quietly_on_stdout_errors();
    // Negative numbers reach our own checks ("--epochs -1" → "epochs must be at least 1"),
    // not clap's "unexpected argument '-1'".
    let command = allow_negative_numbers(Cli::command());
    let cli = match command.try_get_matches().and_then(|m| Cli::from_arg_matches(&m)) {
        Ok(cli) => cli,
        Err(e) => {
            if let Some(message) = count_error(&e) {
                eprintln!("error: {message}");
                return ExitCode::from(2);
            }
            e.exit()
        }
    };
    let result = match cli.command {
        Command::Train(a) => train::run(a),
        Command::Eval(a) => eval::run(a),
        Command::Finetune(a) => finetune::run(a),
        Command::Export(a) => export::run(a),
        Command::Summary(a) => summary::run(a),
        Command::Data(c) => data_cmd::run(c),
        Command::Sweep(a) => sweep::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Predict(a) => predict::predict(a),
        Command::Read(a) => predict::read(a),
        Command::Angle(a) => angle::angle(a),
        Command::Deskew(a) => angle::deskew(a),
        Command::Inspect(a) => inspect::inspect(a),
        Command::Filter(a) => inspect::filter(a),
        Command::Serve(a) => serve::serve(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            // One line: the error and its causes, joined.
            eprintln!("error: {}", format!("{e:#}").replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}
