//! What is specific to a task beyond classification: the rotation-angle regression of the
//! source paper (turned digits, the regressor made from a classifier, angle reports).

pub mod rotation;
