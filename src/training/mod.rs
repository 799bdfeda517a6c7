//! Training: one epoch ([`train_epoch`], [`evaluate`]), a whole run with validation,
//! checkpoints and resume ([`Run`]), the optimizers and learning-rate schedules.

mod epoch;
pub mod optim;
mod run;
pub mod schedule;

pub use epoch::{evaluate, evaluate_batches, train_epoch, Evaluation, Objective, Progress, Stats, Workspace, ROTATION_THRESHOLD_DEG};
pub use run::{Checkpoint, EpochRecord, Event, Run, RunPaths, RunState, TrainConfig};
