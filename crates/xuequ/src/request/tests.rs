//! Each request against the pre-existing functions on the demo and tiny data.
