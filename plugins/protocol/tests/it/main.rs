//! The integration tests of dtm-plugin-protocol: one test binary, a module per subject.

mod golden;
