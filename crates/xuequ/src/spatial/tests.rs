//! Unit tests of the spatial layer.
