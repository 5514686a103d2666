//! Writes `src/bindings/{x86_64,aarch64}.rs` of the patched v4l2-sys-mit from the system's
//! `linux/videodev2.h` (x86_64: `/usr/include`; aarch64: `/usr/aarch64-linux-gnu`, Debian's
//! `linux-libc-dev-arm64-cross`). Options match the crate's original build script (bindgen's
//! defaults on `wrapper.h`), so the generated names are the ones v4l expects.
use std::path::{Path, PathBuf};

struct Target {
    arch: &'static str,
    clang_target: &'static str,
    sysroot: &'static str,
}

const TARGETS: [Target; 2] = [
    Target { arch: "x86_64", clang_target: "x86_64-linux-gnu", sysroot: "/" },
    Target { arch: "aarch64", clang_target: "aarch64-linux-gnu", sysroot: "/usr/aarch64-linux-gnu" },
];

fn main() {
    let krate = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let header = krate.join("wrapper.h");
    for t in &TARGETS {
        let mut args = vec![format!("--target={}", t.clang_target)];
        if t.sysroot != "/" {
            args.push(format!("--sysroot={}", t.sysroot));
            args.push(format!("-isystem{}/include", t.sysroot));
        }
        let bindings = bindgen::Builder::default()
            .header(header.to_str().expect("utf-8 path"))
            .clang_args(&args)
            .generate()
            .unwrap_or_else(|e| panic!("bindgen for {}: {e}", t.arch));
        let out: PathBuf = krate.join("src/bindings").join(format!("{}.rs", t.arch));
        bindings.write_to_file(&out).unwrap_or_else(|e| panic!("writing {}: {e}", out.display()));
        println!("wrote {}", out.display());
    }
}
