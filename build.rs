//! Link arguments of the `dingmeet` binary.
//!
//! On Linux with glibc 2.36 or newer (Debian 12 and the Dockerfile's images), relative relocations
//! are packed (`DT_RELR`): a position-independent binary otherwise carries ~900 KB of relocation
//! records that the loader reads at every start, pages that stay resident for the life of the
//! process (idle RSS; BENCHMARKS.md). Address-space randomisation is unchanged.
//!
//! Older glibc (Ubuntu 22.04 has 2.35) refuses to load such a binary, and binutils 2.38 still
//! accepts the flag there, so it is only passed when the glibc this build links against is new
//! enough: a native build whose `getconf GNU_LIBC_VERSION` says 2.36 or more. Anything else (a
//! cross build, musl, an unknown answer) links as usual, which only costs that memory.

use std::process::Command;

/// The first glibc whose loader understands `DT_RELR`.
const RELR_SINCE: (u32, u32) = (2, 36);

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let native = var("HOST") == var("TARGET");
    if var("CARGO_CFG_TARGET_OS") == "linux"
        && var("CARGO_CFG_TARGET_ENV") == "gnu"
        && native
        && host_glibc().is_some_and(|version| version >= RELR_SINCE)
    {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

/// The build machine's glibc version, from `getconf GNU_LIBC_VERSION` ("glibc 2.36").
fn host_glibc() -> Option<(u32, u32)> {
    let output = Command::new("getconf").arg("GNU_LIBC_VERSION").output().ok()?;
    parse_glibc_version(std::str::from_utf8(&output.stdout).ok()?)
}

fn parse_glibc_version(text: &str) -> Option<(u32, u32)> {
    let version = text.trim().strip_prefix("glibc ")?;
    let mut parts = version.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.chars().take_while(char::is_ascii_digit).collect::<String>().parse().ok()?;
    Some((major, minor))
}
