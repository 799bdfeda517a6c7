//! `digitnet summary`.

use crate::common::resolve_arch;
use anyhow::Result;
use clap::Args;
use digitnet::network::sequential::Sequential;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct SummaryArgs {
    /// A built-in architecture (small, lenet, keras, scratch8/16/24) or a JSON file.
    #[arg(long)]
    arch: Option<String>,
    /// A saved model file (with neither flag: the built-in model).
    #[arg(long)]
    model: Option<PathBuf>,
}

pub fn run(a: SummaryArgs) -> Result<ExitCode> {
    let model = match (&a.arch, &a.model) {
        (_, Some(path)) => {
            let arch = a.arch.as_deref().map(resolve_arch).transpose()?;
            digitnet::network::model_file::load(path, arch.as_ref())?.model
        }
        (Some(name), None) => Sequential::new(&resolve_arch(name)?, 0)?,
        (None, None) => digitnet::inference::builtin::digits_classifier()?.0,
    };
    print!("{}", model.summary());
    Ok(ExitCode::SUCCESS)
}
