//! Reports: the classification metrics (scikit-learn's numbers) and the PNG charts.

pub mod metrics;
mod draw;
pub mod plots;
