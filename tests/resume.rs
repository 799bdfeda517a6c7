//! An interrupted run resumed from its checkpoint reaches the same weights as an uninterrupted
//! run with the same seed and threads (optimizer moments, epoch, shuffle and dropout
//! generators all restored).

mod common;

use digitnet::data::{shipped_mnist_dir, Dataset, Split};
use digitnet::network::arch::Architecture;
use digitnet::training::optim::OptimizerKind;
use digitnet::training::schedule::Schedule;
use digitnet::training::{Run, RunPaths, TrainConfig};

fn weights(run: &Run) -> Vec<f32> {
    let mut v = Vec::new();
    run.model.for_each_param(|_, p| v.extend_from_slice(&p.value));
    v
}

#[test]
fn resumed_run_matches_uninterrupted_run() {
    resume_matches(OptimizerKind::adam(), "adam");
}

/// SGD keeps no second moments: its checkpoint must still resume (and match).
#[test]
fn resumed_sgd_run_matches_uninterrupted_run() {
    resume_matches(OptimizerKind::Sgd { momentum: 0.9, nesterov: true }, "sgd");
}

fn resume_matches(optimizer: OptimizerKind, tag: &str) {
    let data = Dataset::load_idx(&shipped_mnist_dir(), Split::Train, false).unwrap().take(600);
    // Dropout and batch norm make the generators and running statistics part of the state.
    let arch = Architecture::builtin("small").unwrap().with_dropout(0.2).unwrap();
    let config = TrainConfig {
        epochs: 3,
        batch_size: 32,
        lr: 0.01,
        optimizer,
        weight_decay: 1e-4,
        schedule: Schedule::Cosine { min_lr: 0.0 },
        class_weights: None,
        val_split: 100,
        seed: 9,
        patience: None,
        augment: Default::default(),
        stratified: false,
        freeze: 0,
        limit: 0,
    };
    let dir = common::temp_dir(&format!("resume-{tag}"));
    let mut straight = Run::new(&arch, config.clone(), RunPaths::for_model(&dir.join("a.safetensors"))).unwrap();
    straight.fit(&data, None, |_| {}).unwrap();

    let paths = RunPaths::for_model(&dir.join("b.safetensors"));
    let mut first = Run::new(&arch, config, paths.clone()).unwrap();
    first.fit(&data, Some(1), |_| {}).unwrap();
    assert_eq!(first.state.epochs_done, 1);
    drop(first);
    let mut resumed = Run::resume(&paths.checkpoint, paths.clone()).unwrap();
    assert_eq!(resumed.state.epochs_done, 1);
    resumed.fit(&data, None, |_| {}).unwrap();
    assert_eq!(resumed.state.epochs_done, 3);
    assert_eq!(weights(&straight), weights(&resumed), "resumed weights differ");
    assert_eq!(straight.state.history.len(), resumed.state.history.len());
    for (a, b) in straight.state.history.iter().zip(&resumed.state.history) {
        assert_eq!((a.train_loss, a.val_acc), (b.train_loss, b.val_acc));
    }
    // Resuming on other data is refused.
    let mut again = Run::resume(&paths.checkpoint, paths.clone()).unwrap();
    again.state.config.epochs = 4;
    assert!(again.fit(&data.take(500), None, |_| {}).is_err());
    // The files a run promises exist.
    for p in [&paths.model, &paths.checkpoint, &paths.history_json, &paths.history_csv] {
        assert!(p.is_file(), "{} missing", p.display());
    }
}

#[test]
fn early_stopping_stops() {
    let data = Dataset::load_idx(&shipped_mnist_dir(), Split::Train, false).unwrap().take(300);
    let arch = Architecture::scratch(4);
    // With patience 1 the run must stop exactly one epoch after its best epoch, unless
    // every epoch improved (then it runs to the end and the best is the last).
    let config = TrainConfig {
        epochs: 20,
        batch_size: 50,
        lr: 0.05,
        optimizer: OptimizerKind::sgd(0.0),
        weight_decay: 0.0,
        schedule: Schedule::Constant,
        class_weights: None,
        val_split: 100,
        seed: 1,
        patience: Some(1),
        augment: Default::default(),
        stratified: false,
        freeze: 0,
        limit: 0,
    };
    let dir = common::temp_dir("early");
    let mut run = Run::new(&arch, config, RunPaths::for_model(&dir.join("m.safetensors"))).unwrap();
    let mut stopped = false;
    run.fit(&data, None, |e| stopped |= matches!(e, digitnet::training::Event::EarlyStop { .. })).unwrap();
    let s = &run.state;
    if s.epochs_done < 20 {
        assert!(stopped);
        assert_eq!(s.epochs_done, s.best_epoch + 1, "stopped exactly one epoch after the best");
    } else {
        // Every epoch improved: then the best is the last.
        assert_eq!(s.best_epoch, 20);
    }
    // The saved model is the best-validation one.
    let saved = digitnet::network::model_file::load(&run.paths.model, None).unwrap();
    assert_eq!(saved.metadata.get("epoch").map(String::as_str), Some(s.best_epoch.to_string().as_str()));
}
