//! The SONAME of the shared library (the cdylib only; the static library and
//! the rlib are unaffected): `libwsnative.so.0`, under which `make install`
//! installs it and programs linked with it record it. The number changes only
//! if the C ABI ever broke, which the project rules out (the ABI only grows).
//!
//! No version script of ours: rustc already links a cdylib with its own,
//! which exports exactly the `#[no_mangle]` functions and hides every Rust,
//! tokio and rustls symbol, and GNU ld lets those exact names win over any
//! `local: *` we could add. `make test-install` asserts that `nm -D` shows
//! only `ws_*` functions.

fn main() {
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    // ELF targets; macOS's ld64 (install_name) and Windows' linkers differ.
    if matches!(target_os.as_str(), "linux" | "android" | "freebsd" | "netbsd" | "openbsd" | "dragonfly") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libwsnative.so.0");
    }
}
