//! SDK (placeholder)
