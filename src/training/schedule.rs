//! Learning-rate schedules, as functions of training progress in epochs (fractional, so the
//! rate can change every step).
//!
//! ```text
//! constant   η(e) = η₀
//! step       η(e) = η₀ · γ^⌊e / every⌋
//! cosine     η(e) = η_min + ½(η₀ − η_min)(1 + cos(π · e / E))      (E = total epochs)
//! ```

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// A schedule.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Schedule {
    Constant,
    Step { every: f64, gamma: f32 },
    Cosine { min_lr: f32 },
}

impl Schedule {
    /// Parses `constant`, `step` (decay by `step_gamma` every `step_every` epochs) or `cosine`
    /// (anneal to 0 over the run).
    pub fn parse(name: &str, step_every: f64, step_gamma: f32) -> Result<Self> {
        match name {
            "constant" => Ok(Schedule::Constant),
            "step" if step_every > 0.0 && step_gamma > 0.0 && step_gamma.is_finite() => Ok(Schedule::Step { every: step_every, gamma: step_gamma }),
            "step" => Err(Error::config(format!("step schedule needs every > 0 and gamma > 0, got {step_every}, {step_gamma}"))),
            "cosine" => Ok(Schedule::Cosine { min_lr: 0.0 }),
            other => Err(Error::config(format!("unknown schedule '{other}' (constant, step, cosine)"))),
        }
    }

    /// The learning rate at `epoch` (fractional) of `total_epochs`, from base rate `base`.
    pub fn lr(&self, base: f32, epoch: f64, total_epochs: f64) -> f32 {
        match *self {
            Schedule::Constant => base,
            Schedule::Step { every, gamma } => base * gamma.powi((epoch / every).floor() as i32),
            Schedule::Cosine { min_lr } => {
                let t = (epoch / total_epochs.max(1e-9)).clamp(0.0, 1.0);
                min_lr + 0.5 * (base - min_lr) * (1.0 + (std::f64::consts::PI * t).cos() as f32)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_hand_computed() {
        assert_eq!(Schedule::Constant.lr(0.1, 5.0, 10.0), 0.1);
        let s = Schedule::Step { every: 2.0, gamma: 0.5 };
        assert_eq!(s.lr(1.0, 1.9, 10.0), 1.0);
        assert_eq!(s.lr(1.0, 2.0, 10.0), 0.5);
        assert_eq!(s.lr(1.0, 5.0, 10.0), 0.25);
        let c = Schedule::Cosine { min_lr: 0.0 };
        assert!((c.lr(1.0, 0.0, 10.0) - 1.0).abs() < 1e-7);
        assert!((c.lr(1.0, 5.0, 10.0) - 0.5).abs() < 1e-7);
        assert!(c.lr(1.0, 10.0, 10.0).abs() < 1e-7);
        assert!(Schedule::parse("warp", 1.0, 0.1).is_err());
    }
}
