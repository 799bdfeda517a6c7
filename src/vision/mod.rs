pub mod photo;
pub mod segment;
