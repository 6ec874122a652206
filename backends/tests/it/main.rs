//! The integration tests of dtm-backends: one test binary, a module per subject.

mod common;
mod journal;
mod k8s;
mod local;
mod s3;
mod s3_careless_store;
