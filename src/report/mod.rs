//! Reports: the classification metrics (scikit-learn's numbers) and the PNG charts.

mod draw;
pub mod metrics;
pub mod plots;
