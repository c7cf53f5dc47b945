//! Lays out the extension's machine code in the order of `symbol-order.txt`:
//! the functions a Python program runs (import, connect, send, receive,
//! close, in every API) first and together, the rest after them.
//!
//! Why: the kernel maps a shared library's code into a process in blocks of
//! 64 KiB and more around each page touched, and counts them in its RSS.
//! Scattered through 1.7 MB of code, the few hundred functions a `recv()`
//! loop runs kept 1.2 MB of it resident; gathered at the front, 0.46 MB
//! (measured with `/proc/PID/pagemap` while receiving W2 of `make bench`).
//!
//! The order is a linker option of LLD (`--symbol-ordering-file`), the
//! linker rustc uses by default on x86_64 Linux since Rust 1.90. Anywhere
//! else (another target, an older rustc, a linker of the user's choice) the
//! option is left out and the build is the same but for the layout. Names
//! the file lists and the build lacks are ignored: the file only has to be
//! regenerated (`make python-symbol-order`) when much of the code changed.
//! `WSNATIVE_SYMBOL_ORDER=0` leaves the option out.

use std::env;
use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=symbol-order.txt");
    println!("cargo:rerun-if-env-changed=WSNATIVE_SYMBOL_ORDER");
    if env::var("WSNATIVE_SYMBOL_ORDER").is_ok_and(|v| v == "0") {
        return;
    }
    if env::var("TARGET").as_deref() != Ok("x86_64-unknown-linux-gnu") || !default_linker_is_lld() {
        return;
    }
    let Ok(dir) = env::var("CARGO_MANIFEST_DIR") else { return };
    let order = Path::new(&dir).join("symbol-order.txt");
    if !order.is_file() {
        return;
    }
    println!("cargo:rustc-link-arg-cdylib=-Wl,--symbol-ordering-file={}", order.display());
    println!("cargo:rustc-link-arg-cdylib=-Wl,--no-warn-symbol-ordering");
}

/// rustc 1.90 or later, and no linker chosen by the user (cargo's
/// `target.<triple>.linker`, which it passes on as RUSTC_LINKER, or a
/// linker flag in RUSTFLAGS).
fn default_linker_is_lld() -> bool {
    if env::var_os("RUSTC_LINKER").is_some() {
        return false;
    }
    let flags = env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    if ["linker", "link-self-contained", "fuse-ld"].iter().any(|f| flags.contains(f)) {
        return false;
    }
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let Ok(out) = Command::new(rustc).arg("--version").output() else { return false };
    // "rustc 1.95.0 (59807616e 2026-04-14)"
    let text = String::from_utf8_lossy(&out.stdout);
    let mut version = text.split_whitespace().nth(1).unwrap_or("").split(['.', '-']);
    let major: u32 = version.next().and_then(|v| v.parse().ok()).unwrap_or(0);
    let minor: u32 = version.next().and_then(|v| v.parse().ok()).unwrap_or(0);
    (major, minor) >= (1, 90)
}
