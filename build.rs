//! Link arguments of the `dingmeet` binary.
//!
//! On Linux with glibc, relative relocations are packed (`DT_RELR`, glibc 2.36 or newer: Debian
//! 12 and the Dockerfile's images): a position-independent binary otherwise carries ~900 KB of
//! relocation records that the loader reads at every start, pages that stay resident for the
//! life of the process (idle RSS; BENCHMARKS.md). Address-space randomisation is unchanged.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
