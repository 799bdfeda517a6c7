//! `digitnet angle` and `digitnet deskew`: how far the digit in each photo is turned, and the
//! photo turned back.

use crate::common::output_path;
use crate::predict::{each_file, expand_inputs, load_rotation_model};
use anyhow::{Context, Result};
use clap::Args;
use digitnet::inference::Model;
use digitnet::vision::rotate::rotate_gray;
use digitnet::vision::{border_median, load_luma, Gray};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Args)]
pub struct AngleArgs {
    /// Images of one handwritten digit each, or folders of them.
    #[arg(required = true)]
    images: Vec<PathBuf>,
    /// A rotation model file (default: the built-in one).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Print a JSON array, one object per image.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct DeskewArgs {
    /// Images of one handwritten digit each, or folders of them.
    #[arg(required = true)]
    images: Vec<PathBuf>,
    /// A rotation model file (default: the built-in one).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Where to write the straightened images (PNG, named after the inputs).
    #[arg(long)]
    out: PathBuf,
    /// Print a JSON array, one object per image.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
#[serde(untagged)]
enum AngleOutput {
    Ok {
        path: String,
        angle: f32,
        #[serde(skip_serializing_if = "Option::is_none")]
        output: Option<String>,
    },
    Err {
        path: String,
        error: String,
    },
}

/// The photo at `path` as grey levels, and the angle of the digit in it (degrees,
/// counter-clockwise), through the model's input pipeline.
fn angle_of(model: &mut Model, path: &Path) -> Result<(Gray, f32)> {
    let gray = load_luma(path)?;
    let angle = model.angle(&gray)?;
    Ok((gray, angle))
}

/// Answers every image with `each` (its angle, and the file written if any), a failure of
/// one file being that file's answer; prints the text or JSON report and returns exit code 1
/// if any image failed.
fn for_each_image(images: &[PathBuf], json: bool, mut each: impl FnMut(&Path) -> Result<(f32, Option<String>)>) -> Result<ExitCode> {
    let (outputs, failed) = each_file(
        images,
        json,
        |path, shown| {
            Ok(each(path)
                .map(|(angle, output)| {
                    if !json {
                        let to = output.as_ref().map(|o| format!(" → {o}")).unwrap_or_default();
                        println!("{shown}: {angle:.1}°{to}");
                    }
                    AngleOutput::Ok { path: shown.to_string(), angle, output }
                })
                .map_err(|e| format!("{e:#}").replace('\n', " ")))
        },
        |path, error| AngleOutput::Err { path, error },
    )?;
    if json {
        println!("{}", serde_json::to_string(&outputs)?);
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

pub fn angle(a: AngleArgs) -> Result<ExitCode> {
    let mut model = load_rotation_model(a.model.as_ref())?;
    for_each_image(&expand_inputs(&a.images)?, a.json, |path| Ok((angle_of(&mut model, path)?.1, None)))
}

pub fn deskew(a: DeskewArgs) -> Result<ExitCode> {
    let mut model = load_rotation_model(a.model.as_ref())?;
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let mut written = std::collections::HashSet::new();
    let images = expand_inputs(&a.images)?;
    for_each_image(&images, a.json, |path| {
        let (gray, angle) = angle_of(&mut model, path)?;
        let straight = rotate_gray(&gray, -angle, border_median(&gray));
        let out = output_path(&a.out, path, ".png", &mut written, &images);
        let img = image::GrayImage::from_raw(straight.width as u32, straight.height as u32, straight.pixels).context("image buffer")?;
        img.save(&out).with_context(|| format!("writing {}", out.display()))?;
        Ok((angle, Some(out.display().to_string())))
    })
}
