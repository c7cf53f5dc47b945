//! Library-wide functions: version, result names, last error, shutdown.

use crate::boundary::ffi_result;
use crate::result::{fail_with, last_error_ptr, ws_result};
use std::ffi::c_char;
use std::time::Duration;

/// The library version, e.g. "0.1.0". Static storage: never free it.
#[no_mangle]
pub extern "C" fn ws_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// The name of a result code ("OK", "SyntaxError", "InvalidStateError",
/// ...); "Unknown" for a value that is not a ws_result. Static storage:
/// never free it.
#[no_mangle]
pub extern "C" fn ws_result_str(result: u32) -> *const c_char {
    use ws_result::*;
    let all = [
        Ok,
        SyntaxError,
        InvalidStateError,
        InvalidAccessError,
        NullArgument,
        InvalidUtf8,
        InvalidOption,
        ShutDown,
        WouldDeadlock,
        InternalError,
        Panic,
        UnknownSocket,
        InvalidLength,
        ForkedSocket,
    ];
    all.iter().find(|r| **r as u32 == result).map_or(c"Unknown".as_ptr(), |r| r.name().as_ptr())
}

/// A readable message about the last failure of a ws_* call on the calling
/// thread (an empty string if none failed yet). Borrowed: valid until the
/// next ws_* call that fails on this thread. Successful calls leave it
/// unchanged.
#[no_mangle]
pub extern "C" fn ws_last_error() -> *const c_char {
    last_error_ptr()
}

/// Shuts the library down: every socket still connecting is failed and
/// every open one starts its closing handshake (Close 1001); each gets its
/// on_close (queued sockets: in their queue, for ws_poll()), at the latest
/// after `timeout_ms`. Then the library's threads are joined. Afterwards
/// ws_new() returns WS_RESULT_SHUT_DOWN; sockets must still be released with
/// ws_free(). Calling it again does nothing. Safe to call from an atexit()
/// handler; the library may be unloaded after it returns.
///
/// Returns WS_RESULT_WOULD_DEADLOCK when called from an immediate callback
/// (a library thread).
#[no_mangle]
pub extern "C" fn ws_shutdown(timeout_ms: u64) -> ws_result {
    ffi_result!({
        match wsnative_core::runtime::shutdown(Duration::from_millis(timeout_ms)) {
            Ok(()) => ws_result::Ok,
            Err(e) => fail_with(e),
        }
    })
}
