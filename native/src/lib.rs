//! spool's native hot path, loaded by Deno through Node-API (napi-rs).
//!
//! - [`frame_buffer::NativeFrameBuffer`]: append typed-array columns, exact byte accounting
//!   off the JS heap, `take()` hands the concatenated columns to JS as external ArrayBuffers.
//! - [`ring_queue`]: bounded queues of byte messages kept in a process-wide registry, reached by
//!   id from the main thread and from every Worker's instance of the addon.
#![deny(clippy::all)]

pub mod external;
pub mod frame_buffer;
pub mod recycle;
pub mod ring_queue;
pub mod storage;

use napi_derive::napi;

/// Version of the crate, to check that the loaded library matches the TypeScript side.
#[napi]
pub fn version() -> String {
  env!("CARGO_PKG_VERSION").to_string()
}

/// `cargo test` builds an executable with no Node-API host: these stand-ins satisfy the symbols
/// the loader must resolve at start-up. The unit tests never reach them.
#[cfg(test)]
mod host_stubs {
  macro_rules! stub {
    ($($name:ident),*) => {$(
      #[no_mangle]
      pub extern "C" fn $name() -> i32 {
        9 // napi_generic_failure
      }
    )*};
  }
  stub!(
    napi_call_threadsafe_function,
    napi_release_threadsafe_function,
    napi_delete_reference,
    napi_reference_unref
  );
}
