//! Hand a Rust `Vec<u8>` to JavaScript as an external ArrayBuffer (no copy) and view it as a
//! typed array.
//!
//! The finalizer only frees memory: under Deno it may run on a background thread, where the
//! `napi_env` must not be used.

use std::ffi::c_void;
use std::ptr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use napi::bindgen_prelude::ToNapiValue;
use napi::{sys, Error, Result, Status};

use crate::storage::Storage;

/// A `napi_value` built by hand, returned as is.
pub struct RawValue(pub sys::napi_value);

impl ToNapiValue for RawValue {
  unsafe fn to_napi_value(_env: sys::napi_env, val: Self) -> Result<sys::napi_value> {
    Ok(val.0)
  }
}

pub(crate) fn check(status: sys::napi_status, what: &str) -> Result<()> {
  if status == sys::Status::napi_ok {
    Ok(())
  } else {
    Err(Error::new(
      Status::from(status),
      format!("Cannot {what}: Node-API status {status}"),
    ))
  }
}

/// Frees the Vec given to [`typed_array_from_vec`]. Touches nothing but the allocation.
unsafe extern "C" fn free_vec(_env: sys::napi_env, data: *mut c_void, hint: *mut c_void) {
  let capacity = hint as usize;
  // SAFETY: `data` and `capacity` come from a Vec<u8> leaked in `typed_array_from_vec`.
  let vec = unsafe { Vec::from_raw_parts(data.cast::<u8>(), 0, capacity) };
  crate::recycle::give(vec);
}

/// Size in bytes of one element of a typed-array kind.
pub fn element_size(kind: sys::napi_typedarray_type) -> usize {
  match kind {
    sys::TypedarrayType::int16_array | sys::TypedarrayType::uint16_array => 2,
    sys::TypedarrayType::int32_array
    | sys::TypedarrayType::uint32_array
    | sys::TypedarrayType::float32_array => 4,
    sys::TypedarrayType::float64_array
    | sys::TypedarrayType::bigint64_array
    | sys::TypedarrayType::biguint64_array => 8,
    _ => 1,
  }
}

/// Move `data` into a new external ArrayBuffer and return a typed array of `kind` over it.
/// `data.len()` must be a multiple of the element size. An empty Vec gives an empty array.
pub(crate) fn typed_array_from_vec(
  env: sys::napi_env,
  kind: sys::napi_typedarray_type,
  mut data: Vec<u8>,
) -> Result<sys::napi_value> {
  let len = data.len();
  let mut buffer = ptr::null_mut();
  if len == 0 {
    let mut unused = ptr::null_mut();
    check(
      unsafe { sys::napi_create_arraybuffer(env, 0, &mut unused, &mut buffer) },
      "create an ArrayBuffer",
    )?;
  } else {
    let capacity = data.capacity();
    let ptr = data.as_mut_ptr();
    let status = unsafe {
      sys::napi_create_external_arraybuffer(
        env,
        ptr.cast(),
        len,
        Some(free_vec),
        capacity as *mut c_void,
        &mut buffer,
      )
    };
    if status == sys::Status::napi_no_external_buffers_allowed {
      // The runtime refuses external memory: copy once into an engine-owned buffer.
      let mut target = ptr::null_mut();
      check(
        unsafe { sys::napi_create_arraybuffer(env, len, &mut target, &mut buffer) },
        "create an ArrayBuffer",
      )?;
      unsafe { ptr::copy_nonoverlapping(ptr, target.cast::<u8>(), len) };
    } else {
      check(status, "create an external ArrayBuffer")?;
      std::mem::forget(data);
    }
  }
  let mut array = ptr::null_mut();
  check(
    unsafe {
      sys::napi_create_typedarray(env, kind, len / element_size(kind), buffer, 0, &mut array)
    },
    "create a typed array",
  )?;
  Ok(array)
}

/// The external-memory account of one Node-API env (one JS engine instance, e.g. one V8
/// isolate): bytes of taken columns reported to that engine, and bytes freed since.
///
/// The engine keeps one total per instance and aborts the process (V8: `Check failed:
/// total_before >= -delta`) if it is ever asked to go below zero. So every decrease is credited
/// to the account that was charged for the bytes, and an account is never credited more than
/// it was charged. An earlier version kept the account per *thread*: `deno test` runs test
/// modules one after another on a pool of threads, each module in a new isolate, so bytes freed
/// in one isolate were credited to the next isolate on that thread, which had never been
/// charged for them.
#[derive(Debug, Default)]
pub struct Ledger {
  /// Bytes reported to the engine and not given back yet (changed on the env's thread only).
  charged: AtomicI64,
  /// Bytes freed by finalizers (on any thread) and not credited yet.
  freed: AtomicI64,
}

impl Ledger {
  /// An empty account.
  pub fn new() -> Self {
    Self::default()
  }

  /// Record `bytes` freed (a finalizer, on any thread).
  pub fn free(&self, bytes: usize) {
    self.freed.fetch_add(bytes as i64, Ordering::Relaxed);
  }

  /// Book `added` bytes newly held by JS objects, and the bytes freed since the last call;
  /// returns the change to report to the engine. The account's total (the sum of the changes)
  /// never goes below zero: freed bytes beyond what was charged stay pending. Called on the
  /// env's thread only.
  pub fn settle(&self, added: usize) -> i64 {
    let added = added as i64;
    let freed = self.freed.swap(0, Ordering::Relaxed);
    let charged = self.charged.load(Ordering::Relaxed);
    let credit = freed.min(charged + added).max(0);
    if freed > credit {
      self.freed.fetch_add(freed - credit, Ordering::Relaxed);
    }
    let change = added - credit;
    self.charged.store(charged + change, Ordering::Relaxed);
    change
  }

  /// Undo a [`Ledger::settle`] whose change the engine did not take (its report failed), so that
  /// the account still matches what the engine was told.
  pub fn revert(&self, added: usize, change: i64) {
    self.charged.fetch_sub(change, Ordering::Relaxed);
    let credit = added as i64 - change;
    if credit > 0 {
      self.freed.fetch_add(credit, Ordering::Relaxed);
    }
  }

  /// Bytes charged and not given back.
  pub fn charged(&self) -> i64 {
    self.charged.load(Ordering::Relaxed)
  }
}

/// Frees the instance data set by [`ledger_of`] when its env goes away.
unsafe extern "C" fn drop_ledger(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
  // SAFETY: `data` is the Box leaked in `ledger_of`.
  drop(unsafe { Box::from_raw(data.cast::<Arc<Ledger>>()) });
}

/// The account of `env`, kept as the env's instance data (nothing else in this crate, nor
/// napi-rs, sets it). None when the runtime cannot keep one: then nothing is reported at all.
fn ledger_of(env: sys::napi_env) -> Option<Arc<Ledger>> {
  let mut data = ptr::null_mut();
  if unsafe { sys::napi_get_instance_data(env, &mut data) } != sys::Status::napi_ok {
    return None;
  }
  if data.is_null() {
    let boxed = Box::into_raw(Box::new(Arc::new(Ledger::new())));
    let status =
      unsafe { sys::napi_set_instance_data(env, boxed.cast(), Some(drop_ledger), ptr::null_mut()) };
    if status != sys::Status::napi_ok {
      // SAFETY: not handed over: take the Box back.
      drop(unsafe { Box::from_raw(boxed) });
      return None;
    }
    data = boxed.cast();
  }
  // SAFETY: the env's instance data is the `Arc<Ledger>` boxed above, alive until the env goes.
  Some(Arc::clone(unsafe { &*data.cast::<Arc<Ledger>>() }))
}

/// What a taken column's finalizer owns: its memory and the account of the env that took it,
/// where the freed bytes are recorded.
struct Taken {
  storage: Storage,
  ledger: Option<Arc<Ledger>>,
}

/// Frees the Storage boxed by [`typed_array_from_storage`]. Touches nothing but the allocation
/// and an atomic counter: under Deno it may run on a GC thread, or after the env is gone, where
/// the env must not be used.
unsafe extern "C" fn free_storage(_env: sys::napi_env, _data: *mut c_void, hint: *mut c_void) {
  // SAFETY: `hint` is the Box leaked in `typed_array_from_storage`.
  let taken = unsafe { Box::from_raw(hint.cast::<Taken>()) };
  if let Some(ledger) = &taken.ledger {
    ledger.free(taken.storage.len());
  }
  drop(taken);
}

/// Tell `env`'s engine about `added` bytes now held by its JS objects as external ArrayBuffers
/// (from [`typed_array_from_storage`]), minus those it was told about and that were freed since,
/// so that its GC weighs them (and collects taken columns sooner, which refills the page pool).
pub(crate) fn report_external_memory(env: sys::napi_env, added: usize) {
  let Some(ledger) = ledger_of(env) else {
    return;
  };
  let change = ledger.settle(added);
  if change != 0 {
    let mut total = 0i64;
    let status = unsafe { sys::napi_adjust_external_memory(env, change, &mut total) };
    if status != sys::Status::napi_ok {
      // Not taken: the account must not credit later what the engine was never charged.
      ledger.revert(added, change);
    }
  }
}

/// Like [`typed_array_from_vec`] for a FrameBuffer column's [`Storage`]. Returns the array and
/// the bytes handed to JS as external memory (0 when empty or copied into an engine-owned
/// buffer): the caller reports those with [`report_external_memory`]; the finalizer records
/// their release in `env`'s account.
pub(crate) fn typed_array_from_storage(
  env: sys::napi_env,
  kind: sys::napi_typedarray_type,
  mut data: Storage,
) -> Result<(sys::napi_value, usize)> {
  let len = data.len();
  if len == 0 {
    return Ok((typed_array_from_vec(env, kind, Vec::new())?, 0));
  }
  let ptr = data.as_mut_ptr();
  let boxed = Box::into_raw(Box::new(Taken {
    storage: data,
    ledger: ledger_of(env),
  }));
  let mut buffer = ptr::null_mut();
  let status = unsafe {
    sys::napi_create_external_arraybuffer(
      env,
      ptr.cast(),
      len,
      Some(free_storage),
      boxed.cast(),
      &mut buffer,
    )
  };
  if status != sys::Status::napi_ok {
    // SAFETY: not handed over: take the Box back.
    let data = unsafe { Box::from_raw(boxed) };
    if status != sys::Status::napi_no_external_buffers_allowed {
      check(status, "create an external ArrayBuffer")?;
    }
    let copy = typed_array_from_vec(env, kind, data.storage.as_slice().to_vec())?;
    return Ok((copy, 0));
  }
  let mut array = ptr::null_mut();
  // From here the engine owns the buffer (its finalizer credits the account): report it even
  // when the typed array cannot be made.
  let made = check(
    unsafe {
      sys::napi_create_typedarray(env, kind, len / element_size(kind), buffer, 0, &mut array)
    },
    "create a typed array",
  );
  match made {
    Ok(()) => Ok((array, len)),
    Err(e) => {
      report_external_memory(env, len);
      Err(e)
    }
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn an_account_is_never_credited_more_than_it_was_charged() {
    let a = Ledger::new();
    assert_eq!(a.settle(100), 100);
    a.free(100);
    a.free(50); // bytes this account was never charged for (a bug elsewhere)
    assert_eq!(
      a.settle(10),
      -100,
      "the 100 charged and the 10 added are credited, no more"
    );
    assert_eq!(a.charged(), 0);
    assert_eq!(a.settle(0), 0, "nothing charged: nothing credited");
    assert_eq!(a.settle(30), 0, "pending frees cover new charges");
    assert_eq!(a.settle(20), 10);
    assert_eq!(a.charged(), 10);
  }

  #[test]
  fn a_report_the_engine_did_not_take_is_undone() {
    let a = Ledger::new();
    let change = a.settle(100);
    a.revert(100, change); // the engine never got +100
    assert_eq!(a.charged(), 0);
    a.free(100); // that column is freed later
    assert_eq!(a.settle(0), 0, "nothing charged: nothing credited");
    // A credit whose report failed stays pending.
    let b = Ledger::new();
    assert_eq!(b.settle(100), 100);
    b.free(100);
    let change = b.settle(0);
    assert_eq!(change, -100);
    b.revert(0, change);
    assert_eq!(b.charged(), 100);
    assert_eq!(b.settle(0), -100, "credited at the next report");
    assert_eq!(b.charged(), 0);
  }

  #[test]
  fn frees_are_credited_to_the_account_that_was_charged() {
    // Two envs (isolates) on one thread, one after the other, as `deno test` runs modules:
    // the first takes 64 MiB and frees it; the second takes 8 bytes.
    let first = Arc::new(Ledger::new());
    let second = Arc::new(Ledger::new());
    let mut total_first = first.settle(64 << 20);
    let mut total_second = 0;
    first.free(64 << 20);
    for _ in 0..4 {
      total_second += second.settle(8);
      second.free(8);
      assert!(total_second >= 0, "the second engine's total went negative");
    }
    total_first += first.settle(0);
    assert_eq!(total_first, 0);
    total_second += second.settle(0);
    assert_eq!(total_second, 0);
  }

  #[test]
  fn frees_from_other_threads_are_credited_once() {
    let ledger = Arc::new(Ledger::new());
    let mut total = ledger.settle(8 * 1000);
    let threads: Vec<_> = (0..8)
      .map(|_| {
        let l = Arc::clone(&ledger);
        std::thread::spawn(move || (0..1000).for_each(|_| l.free(1)))
      })
      .collect();
    for t in threads {
      t.join().unwrap();
    }
    total += ledger.settle(0);
    assert_eq!(total, 0);
    assert_eq!(ledger.settle(0), 0);
  }
}
