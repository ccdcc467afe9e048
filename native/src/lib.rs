//! spool's native hot path, loaded by Deno through Node-API (napi-rs).
//!
//! - [`frame_buffer::NativeFrameBuffer`]: append typed-array columns, exact byte accounting
//!   off the JS heap, `take()` hands the concatenated columns to JS as external ArrayBuffers.
//! - [`ring_queue`]: bounded queues of byte messages kept in a process-wide registry, reached by
//!   id from the main thread and from every Worker's instance of the addon.
#![deny(clippy::all)]
#![deny(clippy::undocumented_unsafe_blocks)]

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

/// Tests of what happens when an allocation really fails: the body runs in a child process (this
/// test executable, running that one test) whose address space is capped just above its size.
#[cfg(all(test, target_os = "linux"))]
pub(crate) mod limited {
  const CHILD: &str = "SPOOL_NATIVE_LIMITED_TEST";

  fn address_space() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("read /proc/self/statm");
    let pages: usize = statm.split_whitespace().next().unwrap().parse().unwrap();
    pages * 4096
  }

  /// In the parent: run test `name` in a child and assert it exited 0 after the body (a failed
  /// allocation that aborts the process fails the test). In the child: `prepare` (allocations
  /// made before the cap), then cap the address space at its size + `headroom`, then `body`.
  pub fn run<T>(name: &str, headroom: usize, prepare: impl FnOnce() -> T, body: impl FnOnce(T)) {
    if std::env::var(CHILD).as_deref() == Ok(name) {
      let data = prepare();
      let cap = (address_space() + headroom) as libc::rlim_t;
      let limit = libc::rlimit {
        rlim_cur: cap,
        rlim_max: libc::RLIM_INFINITY,
      };
      // SAFETY: setrlimit only reads the `rlimit` it is given, a live local.
      assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) }, 0);
      body(data);
      println!("limited body done");
      return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
      .args([name, "--exact", "--test-threads=1", "--nocapture"])
      .env(CHILD, name)
      .output()
      .unwrap();
    let text =
      String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child {:?}: {text}", out.status);
    assert!(text.contains("limited body done"), "{text}");
  }
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
