//! Hand Rust memory to JavaScript without a copy: a `Vec<u8>` (a RingQueue message) or a
//! [`Storage`] (a FrameBuffer column) becomes an external ArrayBuffer viewed as a typed array.
//! Each env's external-memory account ([`Ledger`]) tells its engine about the bytes it holds.
//!
//! This is the crate's raw-memory path: the only file that calls Node-API by hand (`sys::`),
//! because napi-rs's typed values cannot give a buffer back to [`crate::recycle`] or to the page
//! pool when the engine frees it. Every function takes a typed [`Env`].
//!
//! The finalizers only free memory (and count it): under Deno they may run on a background
//! thread, or after their env is gone, where the `napi_env` must not be used.

use std::ffi::c_void;
use std::ptr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use napi::bindgen_prelude::{ArrayBuffer, ToNapiValue, TypedArrayType};
use napi::{sys, Env, Error, JsValue, Result, Status};

use crate::storage::Storage;

/// A JS value made by this crate in the env of the current call, returned to napi-rs as is.
pub struct RawValue(sys::napi_value);

impl RawValue {
  /// The handle of a value napi-rs made.
  pub(crate) fn of<'env>(value: &impl JsValue<'env>) -> Self {
    Self(value.raw())
  }
}

impl ToNapiValue for RawValue {
  unsafe fn to_napi_value(_env: sys::napi_env, val: Self) -> Result<sys::napi_value> {
    Ok(val.0)
  }
}

/// An error for a Node-API call that did not return `napi_ok`.
fn status_error(status: sys::napi_status, what: &str) -> Error {
  Error::new(
    Status::from(status),
    format!("Cannot {what}: Node-API status {status}"),
  )
}

fn check(status: sys::napi_status, what: &str) -> Result<()> {
  if status == sys::Status::napi_ok {
    Ok(())
  } else {
    Err(status_error(status, what))
  }
}

/// Size in bytes of one element of a typed-array kind.
pub fn element_size(kind: TypedArrayType) -> usize {
  match kind {
    TypedArrayType::Int16 | TypedArrayType::Uint16 => 2,
    TypedArrayType::Int32 | TypedArrayType::Uint32 | TypedArrayType::Float32 => 4,
    TypedArrayType::Float64 | TypedArrayType::BigInt64 | TypedArrayType::BigUint64 => 8,
    _ => 1,
  }
}

/// A new engine-owned ArrayBuffer holding a copy of `bytes`.
fn copied_arraybuffer(env: &Env, bytes: &[u8]) -> Result<sys::napi_value> {
  Ok(ArrayBuffer::copy_from(env, bytes)?.raw())
}

/// A typed array of `kind` over all of `buffer`, an ArrayBuffer of `byte_length` bytes.
fn typed_array_over(
  env: &Env,
  kind: TypedArrayType,
  buffer: sys::napi_value,
  byte_length: usize,
) -> Result<RawValue> {
  let mut array = ptr::null_mut();
  // SAFETY: `env` is the env of the current call; `buffer` is an ArrayBuffer of `byte_length`
  // bytes made in it during this call (alive in the current handle scope); `byte_length` is a
  // multiple of the element size (messages are bytes; a column's length is checked at every
  // append), so the view of `byte_length / element_size` elements from offset 0 lies inside it;
  // `array` is a valid place for the result.
  let status = unsafe {
    sys::napi_create_typedarray(
      env.raw(),
      kind.into(),
      byte_length / element_size(kind),
      buffer,
      0,
      &mut array,
    )
  };
  check(status, "create a typed array")?;
  Ok(RawValue(array))
}

/// Frees the Vec handed over by [`typed_array_from_vec`]: its memory goes to [`crate::recycle`].
/// Touches nothing but the allocation (never the env).
///
/// # Safety
///
/// `data` is the pointer and `hint` the capacity of a `Vec<u8>` that `typed_array_from_vec`
/// leaked, and the engine calls this once for it.
unsafe extern "C" fn free_vec(_env: sys::napi_env, data: *mut c_void, hint: *mut c_void) {
  let capacity = hint as usize;
  // SAFETY: by this function's contract, `data` and `capacity` are the pointer and capacity of a
  // leaked Vec<u8> that nothing else owns any more; rebuilt with length 0 (bytes need no drop).
  let vec = unsafe { Vec::from_raw_parts(data.cast::<u8>(), 0, capacity) };
  crate::recycle::give(vec);
}

/// Move `data` into a new external ArrayBuffer and return a typed array of `kind` over it (a
/// copy in an engine-owned buffer when the runtime refuses external memory). `data.len()` must
/// be a multiple of the element size. An empty Vec gives an empty array.
pub(crate) fn typed_array_from_vec(
  env: &Env,
  kind: TypedArrayType,
  mut data: Vec<u8>,
) -> Result<RawValue> {
  let len = data.len();
  if len == 0 {
    let buffer = copied_arraybuffer(env, &[])?;
    return typed_array_over(env, kind, buffer, 0);
  }
  let capacity = data.capacity();
  let mut buffer = ptr::null_mut();
  // SAFETY: the pointer and `len` are those of `data`'s initialised bytes. When the engine takes
  // them (napi_ok), `data` is forgotten just below: the allocation then stays valid, and is
  // neither read nor freed by Rust, until the engine calls `free_vec` with this capacity as the
  // hint. On any other status the engine did not take it and `data` is dropped as usual.
  let status = unsafe {
    sys::napi_create_external_arraybuffer(
      env.raw(),
      data.as_mut_ptr().cast(),
      len,
      Some(free_vec),
      capacity as *mut c_void,
      &mut buffer,
    )
  };
  if status == sys::Status::napi_no_external_buffers_allowed {
    // The runtime refuses external memory: copy once into an engine-owned buffer.
    buffer = copied_arraybuffer(env, &data)?;
  } else {
    check(status, "create an external ArrayBuffer")?;
    std::mem::forget(data);
  }
  typed_array_over(env, kind, buffer, len)
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

/// The account of `env`, kept as the env's instance data (nothing else in this crate, nor
/// napi-rs, sets it; napi-rs drops it when the env goes). None when the runtime cannot keep one,
/// or keeps something else there: then nothing is reported at all.
fn ledger_of(env: &Env) -> Option<Arc<Ledger>> {
  match env.get_instance_data::<Arc<Ledger>>() {
    Ok(Some(ledger)) => Some(Arc::clone(ledger)),
    Ok(None) => {
      let ledger = Arc::new(Ledger::new());
      env
        .set_instance_data(Arc::clone(&ledger), (), |_| {})
        .ok()?;
      Some(ledger)
    }
    Err(_) => None,
  }
}

/// What a taken column's finalizer owns: its memory and the account of the env that took it,
/// where the freed bytes are recorded.
struct Taken {
  storage: Storage,
  ledger: Option<Arc<Ledger>>,
}

/// Frees the [`Taken`] column boxed by [`typed_array_from_storage`]. Touches nothing but the
/// allocation and an atomic counter: under Deno it may run on a GC thread, or after the env is
/// gone, where the env must not be used.
///
/// # Safety
///
/// `hint` is a `Box<Taken>` that `typed_array_from_storage` leaked for an ArrayBuffer the engine
/// accepted, and the engine calls this once for it.
unsafe extern "C" fn free_storage(_env: sys::napi_env, _data: *mut c_void, hint: *mut c_void) {
  // SAFETY: by this function's contract, `hint` is a leaked Box<Taken> owned by nothing else.
  let taken = unsafe { Box::from_raw(hint.cast::<Taken>()) };
  if let Some(ledger) = &taken.ledger {
    ledger.free(taken.storage.len());
  }
  drop(taken);
}

/// Tell `env`'s engine about `added` bytes now held by its JS objects as external ArrayBuffers
/// (from [`typed_array_from_storage`]), minus those it was told about and that were freed since,
/// so that its GC weighs them (and collects taken columns sooner, which refills the page pool).
pub(crate) fn report_external_memory(env: &Env, added: usize) {
  let Some(ledger) = ledger_of(env) else {
    return;
  };
  let change = ledger.settle(added);
  if change != 0 && env.adjust_external_memory(change).is_err() {
    // Not taken: the account must not credit later what the engine was never charged.
    ledger.revert(added, change);
  }
}

/// Like [`typed_array_from_vec`] for a FrameBuffer column's [`Storage`]. Returns the array and
/// the bytes handed to JS as external memory (0 when empty or copied into an engine-owned
/// buffer): the caller reports those with [`report_external_memory`]; the finalizer records
/// their release in `env`'s account.
pub(crate) fn typed_array_from_storage(
  env: &Env,
  kind: TypedArrayType,
  mut data: Storage,
) -> Result<(RawValue, usize)> {
  let len = data.len();
  if len == 0 {
    return Ok((typed_array_from_vec(env, kind, Vec::new())?, 0));
  }
  let bytes = data.as_mut_ptr();
  let taken = Box::into_raw(Box::new(Taken {
    storage: data,
    ledger: ledger_of(env),
  }));
  let mut buffer = ptr::null_mut();
  // SAFETY: `bytes..bytes + len` are the initialised bytes of the Storage now owned by `taken`
  // (moving a Storage does not move its bytes: they are a heap allocation or a mapping). `taken`
  // is leaked: when the engine accepts the buffer, the bytes stay valid and untouched by Rust
  // until the engine calls `free_storage` with `taken` as the hint; otherwise it is reclaimed
  // just below.
  let status = unsafe {
    sys::napi_create_external_arraybuffer(
      env.raw(),
      bytes.cast(),
      len,
      Some(free_storage),
      taken.cast(),
      &mut buffer,
    )
  };
  if status != sys::Status::napi_ok {
    // SAFETY: the engine refused the buffer, so it will never call `free_storage`: `taken` is
    // still the Box leaked above, owned by nothing else.
    let taken = unsafe { Box::from_raw(taken) };
    if status != sys::Status::napi_no_external_buffers_allowed {
      return Err(status_error(status, "create an external ArrayBuffer"));
    }
    let copy = copied_arraybuffer(env, taken.storage.as_slice())?;
    return Ok((typed_array_over(env, kind, copy, len)?, 0));
  }
  // From here the engine owns the buffer (its finalizer credits the account): report it even
  // when the typed array cannot be made.
  match typed_array_over(env, kind, buffer, len) {
    Ok(array) => Ok((array, len)),
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
  }

  #[test]
  fn a_credit_whose_report_failed_stays_pending() {
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
