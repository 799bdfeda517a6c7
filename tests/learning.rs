//! Learning test: `lenet` trained on the first 2,000 MNIST training images for 2 epochs must
//! reach ≥ 90 % on the first 1,000 test images (the engine issue's criterion). The recipe
//! (Adam 1e-3, batch 32) was chosen on training images 50,000–50,999, never on the test set.

use digitnet::data::{shipped_mnist_dir, Dataset, Split};
use digitnet::init::Rng;
use digitnet::network::arch::Architecture;
use digitnet::network::loss::SoftmaxCrossEntropy;
use digitnet::network::sequential::Sequential;
use digitnet::training::optim::{Optimizer, OptimizerKind};
use digitnet::training::{evaluate, train_epoch, Objective, Workspace};

#[test]
fn lenet_learns_mnist_from_2000_images() {
    let train = Dataset::load_idx(&shipped_mnist_dir(), Split::Train, true).unwrap().take(2000);
    let test = Dataset::load_idx(&shipped_mnist_dir(), Split::Test, true).unwrap().take(1000);
    let arch = Architecture::builtin("lenet").unwrap();
    let mut model = Sequential::new(&arch, 1).unwrap();
    let mut opt = Optimizer::new(OptimizerKind::adam(), 0.0).unwrap();
    let mut loss = Objective::Classify(SoftmaxCrossEntropy::new(10, None).unwrap());
    let mut ws = Workspace::default();
    let mut rng = Rng::new(2);
    let mut order: Vec<usize> = (0..train.len()).collect();
    for _ in 0..2 {
        rng.shuffle(&mut order);
        train_epoch(&mut model, &mut opt, &mut loss, &train, &order, 32, |_| 1e-3, &mut ws, None, |_| {}).unwrap();
    }
    let eval = evaluate(&mut model, &test, 500, &mut ws).unwrap();
    eprintln!("lenet, 2 epochs on 2,000 images: test accuracy {:.4}, loss {:.4}", eval.stats.accuracy, eval.stats.loss);
    assert!(eval.stats.accuracy >= 0.90, "accuracy {}", eval.stats.accuracy);
    // Predictions line up with labels: recount from the returned probabilities.
    let correct = eval.predictions().iter().zip(&test.labels).filter(|(p, l)| **p == **l as usize).count();
    assert_eq!(correct as f64 / 1000.0, eval.stats.accuracy);
}
