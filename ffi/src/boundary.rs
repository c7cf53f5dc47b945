//! The boundary macros placed inside every exported function: panics are
//! caught and become `WS_RESULT_PANIC`; NULL arguments become
//! `WS_RESULT_NULL_ARGUMENT`. Each sets the thread's last error message.

/// Runs `$body` (which evaluates to a `ws_result`), catching panics.
macro_rules! ffi_result {
    ($body:block) => {{
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| -> $crate::result::ws_result {
            $body
        })) {
            Ok(r) => r,
            Err(p) => {
                $crate::result::fail($crate::result::ws_result::Panic, &$crate::boundary::panic_message(&p))
            }
        }
    }};
}

/// Runs `$body`, returning `$default` if it panics (for functions that
/// return a value rather than a `ws_result`).
macro_rules! ffi_value {
    ($default:expr, $body:block) => {{
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| $body)) {
            Ok(v) => v,
            Err(p) => {
                $crate::result::fail($crate::result::ws_result::Panic, &$crate::boundary::panic_message(&p));
                $default
            }
        }
    }};
}

/// Returns `WS_RESULT_NULL_ARGUMENT` from the enclosing closure when the
/// pointer is NULL.
macro_rules! non_null {
    ($ptr:expr, $name:literal) => {
        if $ptr.is_null() {
            return $crate::result::fail(
                $crate::result::ws_result::NullArgument,
                concat!("the argument '", $name, "' is NULL"),
            );
        }
    };
}

pub(crate) use {ffi_result, ffi_value, non_null};

pub(crate) fn panic_message(p: &Box<dyn std::any::Any + Send>) -> String {
    let what = p
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    format!("internal panic (a wsnative bug): {what}")
}

/// Borrows a C string as UTF-8.
///
/// # Safety
/// `p` must be a valid NUL-terminated string.
pub(crate) unsafe fn c_str<'a>(
    p: *const std::ffi::c_char,
    what: &str,
) -> Result<&'a str, crate::result::ws_result> {
    std::ffi::CStr::from_ptr(p).to_str().map_err(|_| {
        crate::result::fail(crate::result::ws_result::InvalidUtf8, &format!("the {what} is not valid UTF-8"))
    })
}

/// Borrows `len` bytes at `p`, named `what` in error messages. NULL is
/// allowed when `len` is 0. A length no object can have (above
/// `PTRDIFF_MAX`) is `WS_RESULT_INVALID_LENGTH` and a NULL pointer with a
/// length is `WS_RESULT_NULL_ARGUMENT`, both before `p` is touched.
///
/// # Safety
/// `p` must point to `len` readable bytes.
pub(crate) unsafe fn bytes<'a>(
    p: *const u8,
    len: usize,
    what: &str,
) -> Result<&'a [u8], crate::result::ws_result> {
    use crate::result::{fail, ws_result};
    if len > isize::MAX as usize {
        Err(fail(
            ws_result::InvalidLength,
            &format!("the length of '{what}', {len}, is larger than any object can be (PTRDIFF_MAX)"),
        ))
    } else if len == 0 {
        Ok(&[])
    } else if p.is_null() {
        Err(fail(ws_result::NullArgument, &format!("the argument '{what}' is NULL")))
    } else {
        Ok(std::slice::from_raw_parts(p, len))
    }
}
