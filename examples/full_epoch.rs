use digitnet::arch::Architecture;
use digitnet::data::{shipped_mnist_dir, Dataset, Split};
use digitnet::init::Rng;
use digitnet::loss::SoftmaxCrossEntropy;
use digitnet::model::Sequential;
use digitnet::optim::{Optimizer, OptimizerKind};
use digitnet::train::{evaluate, train_epoch, Workspace};
fn main() {
    let name = std::env::args().nth(1).unwrap_or("lenet".into());
    let all = Dataset::load_idx(&shipped_mnist_dir(), Split::Train, true).unwrap();
    let train = all.take(55000);
    let val = all.subset(&(55000..60000).collect::<Vec<_>>());
    let mut model = Sequential::new(&Architecture::builtin(&name).unwrap(), 1).unwrap();
    let mut opt = Optimizer::new(OptimizerKind::adam(), 0.0).unwrap();
    let mut loss = SoftmaxCrossEntropy::new(10, None).unwrap();
    let mut ws = Workspace::default();
    let mut rng = Rng::new(2);
    let mut order: Vec<usize> = (0..train.len()).collect();
    rng.shuffle(&mut order);
    let t = std::time::Instant::now();
    let s = train_epoch(&mut model, &mut opt, &mut loss, &train, &order, 64, |_| 1e-3, &mut ws, |_| {}).unwrap();
    let dt = t.elapsed().as_secs_f64();
    let e = evaluate(&mut model, &val, 1000, &mut ws).unwrap();
    println!("{name}: train loss {:.4} acc {:.4}; val acc {:.4}; {:.1}s = {:.0} img/s", s.loss, s.accuracy, e.stats.accuracy, dt, 55000.0 / dt);
}
