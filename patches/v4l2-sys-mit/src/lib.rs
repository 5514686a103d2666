//! Raw V4L2 bindings: `linux/videodev2.h` run through bindgen once per architecture and checked
//! in, instead of at build time (which needs libclang). The bindings carry bindgen's layout
//! assertions as constants, so every build checks the structs' sizes and offsets for its target.
//! Regenerate with `cargo run --manifest-path patches/v4l2-sys-mit/regen/Cargo.toml`.
#![allow(clippy::all)]
#![allow(deref_nullptr)]
#![allow(non_camel_case_types)]
#![allow(non_snake_case)]
#![allow(non_upper_case_globals)]
#![allow(unnecessary_transmutes)]

#[cfg(target_arch = "x86_64")]
include!("bindings/x86_64.rs");
#[cfg(target_arch = "aarch64")]
include!("bindings/aarch64.rs");
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
compile_error!(
    "no checked-in V4L2 bindings for this architecture: add it to patches/v4l2-sys-mit/regen"
);
