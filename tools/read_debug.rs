//! Dev tool: what the number reader considered for each image (pieces, candidates, choice).
use digitnet::inference::{Model, Reading};
use digitnet::vision::load_luma;
use digitnet::vision::number::number_candidates;
fn main() {
    let mut model = Model::builtin_reader().unwrap();
    for a in std::env::args().skip(1) {
        let g = load_luma(a.as_ref()).unwrap();
        let c = number_candidates(&g).unwrap();
        let probs = model.probabilities(&c.images()).unwrap();
        let r = Reading::from_candidates(&c, &probs, model.classes()).unwrap();
        println!("== {a}: {} raw {}", r.text, r.raw);
        for d in &r.digits {
            println!("   chose {} {:?} ({:.3})", d.prediction.label, d.bbox, d.prediction.confidence);
        }
        let mut base = 0;
        for (li, l) in c.lines.iter().enumerate() {
            println!(" line {li}: {} pieces", l.skip_size.len());
            for (k, b) in l.piece_boxes.iter().enumerate() {
                println!("  piece {k} box {:?} skip {:.2} mark {:?}", b, l.skip_size[k], l.marks[k]);
            }
            for (j, cand) in l.candidates.iter().enumerate() {
                let p = &probs[base + j];
                let (cl, pv) = p.iter().enumerate().fold((0, 0f32), |b, (i, &v)| if v > b.1 { (i, v) } else { b });
                let shape = digitnet::vision::number::Costs::default().shape(cand);
                println!(
                    "  cand {}..{} box {:?} shape {:.2} -> {} ({:.3}) cost {:.2}",
                    cand.first,
                    cand.last,
                    cand.bbox,
                    shape,
                    cl,
                    pv,
                    -(pv.max(1e-6) as f64).ln() + shape
                );
            }
            base += l.candidates.len();
        }
    }
}
