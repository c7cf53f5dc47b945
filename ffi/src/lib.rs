//! The C ABI of wsnative: a thin boundary over `wsnative-core`. Only
//! conversions, ownership and dispatch live here; no connection logic.

mod boundary;
mod callbacks;
mod cause;
mod handles;
mod options;
mod result;
mod runtime;
mod socket;

pub use callbacks::{ws_callbacks, ws_message_type};
pub use cause::*;
pub use options::*;
pub use result::ws_result;
pub use runtime::*;
pub use socket::*;
