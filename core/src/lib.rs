//! wsnative-core: the browser's `WebSocket` object as plain async Rust,
//! running on a runtime the library owns. It knows nothing of C or Python;
//! the `wsnative` (C ABI) and Python crates are thin layers over it.
//!
//! Behaviour follows the project's SPEC.md (WHATWG HTML "WebSockets" over
//! RFC 6455): synchronous validation errors, events `Open`, `Message`,
//! `Error`, `Close` in the browser's order, exact `bufferedAmount`.

pub mod cause;
mod connect;
mod connection;
pub mod deflate;
mod direct;
pub mod dispatch;
pub mod error;
pub mod event;
pub mod flow;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod handshake;
mod happy_eyeballs;
mod incoming;
mod low_water;
pub mod options;
mod outgoing;
pub mod proxy;
mod read_ahead;
pub mod runtime;
mod socket;
mod stream;
pub mod tls;
mod tunnel;
mod utf8_stream;
pub mod validate;
mod view;

pub use bytes::Bytes;
pub use cause::{Cause, ErrorCode, Failure, HttpResponse};
pub use deflate::DeflateOffer;
pub use dispatch::EventQueue;
pub use error::{Error, ErrorKind};
pub use event::{Event, EventHandler, Handler, Message, ReadyState};
pub use flow::FlowControl;
pub use options::{CaBundle, ClientCert, Options};
pub use proxy::{Proxy, ProxyUrl};
pub use socket::WebSocket;

/// The library version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
