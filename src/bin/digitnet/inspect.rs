//! `digitnet inspect` (feature maps of every layer for one image) and `digitnet filter`
//! (a classical spatial filter applied by the engine's own convolution).

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use digitnet::init::{Init, Rng};
use digitnet::kernels::geometry::{Padding, PaddingName};
use digitnet::layers::{Conv2d, Layer, Mode};
use digitnet::tensor::Tensor;
use digitnet::vision as photo;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct InspectArgs {
    /// A photo of one digit.
    image: PathBuf,
    /// Directory for the PNG grids.
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    model: crate::predict::ModelArgs,
}

pub fn inspect(a: InspectArgs) -> Result<ExitCode> {
    let mut model = a.model.load()?;
    let gray = photo::load_luma(&a.image)?;
    // The network that reads this image, as `predict` chooses it.
    let model = model.for_image(&gray);
    let img = model.prepare(&gray).map_err(|e| anyhow::anyhow!("{}: {e}", a.image.display()))?;
    let layers = model.feature_maps(&img)?;
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let input_png = a.out.join("00-input.png");
    digitnet::report::plots::image_grid(&input_png, &[&img[..]], 28, 28, &["input (28×28)".to_string()], 1)?;
    let mut written = vec![input_png];
    for l in &layers {
        let [c, h, w] = l.shape;
        let refs: Vec<&[u8]> = l.maps.iter().map(Vec::as_slice).collect();
        let captions: Vec<String> = (0..c).map(|k| format!("{k}")).collect();
        let name = if l.kind == "filters" { "filters.png".to_string() } else { format!("{:02}-{}.png", l.index + 1, l.kind.to_lowercase()) };
        let path = a.out.join(name);
        digitnet::report::plots::image_grid(&path, &refs, h, w, &captions, c.min(16))?;
        written.push(path);
    }
    for p in &written {
        println!("{}", p.display());
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Clone, Copy, ValueEnum)]
enum Kernel {
    Average3,
    Average5,
    Laplacian,
    SobelX,
    SobelY,
    Sharpen,
}

impl Kernel {
    /// The kernel's weights, row-major, and its side length.
    fn weights(self) -> (Vec<f32>, usize) {
        match self {
            Kernel::Average3 => (vec![1.0 / 9.0; 9], 3),
            Kernel::Average5 => (vec![1.0 / 25.0; 25], 5),
            Kernel::Laplacian => (vec![0.0, 1.0, 0.0, 1.0, -4.0, 1.0, 0.0, 1.0, 0.0], 3),
            Kernel::SobelX => (vec![-1.0, 0.0, 1.0, -2.0, 0.0, 2.0, -1.0, 0.0, 1.0], 3),
            Kernel::SobelY => (vec![-1.0, -2.0, -1.0, 0.0, 0.0, 0.0, 1.0, 2.0, 1.0], 3),
            Kernel::Sharpen => (vec![0.0, -1.0, 0.0, -1.0, 5.0, -1.0, 0.0, -1.0, 0.0], 3),
        }
    }

    /// Edge detectors are shown as |response|; smoothing and sharpening as they are.
    fn absolute(self) -> bool {
        matches!(self, Kernel::Laplacian | Kernel::SobelX | Kernel::SobelY)
    }
}

#[derive(Args)]
pub struct FilterArgs {
    image: PathBuf,
    #[arg(long, value_enum)]
    kernel: Kernel,
    #[arg(long)]
    out: PathBuf,
}

pub fn filter(a: FilterArgs) -> Result<ExitCode> {
    crate::common::refuse_to_overwrite(&a.image, &a.out, "--out")?;
    let g = photo::load_luma(&a.image)?;
    let (w, h) = (g.width, g.height);
    if w < 3 || h < 3 {
        bail!("{}: a {w}×{h} image is too small to filter", a.image.display());
    }
    let (weights, k) = a.kernel.weights();
    let mut conv = Conv2d::new([1, h, w], 1, [k, k], [1, 1], Padding::Named(PaddingName::Same), [1, 1], false, Init::HeNormal, &mut Rng::new(0))?;
    conv.params_mut()[0].value.copy_from_slice(&weights);
    let x = Tensor::from_vec(&[1, 1, h, w], g.pixels.iter().map(|&p| p as f32).collect())?;
    let mut y = Tensor::default();
    conv.forward(&x, &mut y, Mode::Eval)?;
    let out: Vec<u8> = y.data.iter().map(|&v| if a.kernel.absolute() { v.abs() } else { v }.round().clamp(0.0, 255.0) as u8).collect();
    let img = image::GrayImage::from_raw(w as u32, h as u32, out).context("image buffer")?;
    img.save(&a.out).with_context(|| format!("writing {}", a.out.display()))?;
    println!("{}", a.out.display());
    Ok(ExitCode::SUCCESS)
}
