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
pub fn typed_array_from_vec(
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

/// What a taken column's finalizer owns: its memory and the counter of the env (thread) that
/// took it, where the freed bytes are recorded.
struct Taken {
  storage: Storage,
  freed: Arc<AtomicI64>,
}

/// Frees the Storage boxed by [`typed_array_from_storage`]. Touches nothing but the allocation
/// and an atomic counter: under Deno it may run on a GC thread, where the env must not be used.
unsafe extern "C" fn free_storage(_env: sys::napi_env, _data: *mut c_void, hint: *mut c_void) {
  // SAFETY: `hint` is the Box leaked in `typed_array_from_storage`.
  let taken = unsafe { Box::from_raw(hint.cast::<Taken>()) };
  taken
    .freed
    .fetch_add(taken.storage.len() as i64, Ordering::Relaxed);
  drop(taken);
}

thread_local! {
  /// Bytes taken on this thread (one napi env per JS thread) and freed since last reported.
  static FREED_HERE: Arc<AtomicI64> = Arc::new(AtomicI64::new(0));
}

/// Tell this env's engine about `added` bytes now held by its JS objects, minus those it held
/// and that were freed since, so that its GC weighs them (and collects taken columns sooner,
/// which refills the page pool). Per env: an env is only ever credited with bytes it was
/// charged for, so its total never goes negative (a V8 fatal check).
pub fn report_external_memory(env: sys::napi_env, added: i64) {
  let change = added - FREED_HERE.with(|f| f.swap(0, Ordering::Relaxed));
  if change != 0 {
    let mut total = 0i64;
    // A failure only means the engine's estimate is off; nothing to undo.
    let _ = unsafe { sys::napi_adjust_external_memory(env, change, &mut total) };
  }
}

/// Like [`typed_array_from_vec`] for a FrameBuffer column's [`Storage`].
pub fn typed_array_from_storage(
  env: sys::napi_env,
  kind: sys::napi_typedarray_type,
  mut data: Storage,
) -> Result<sys::napi_value> {
  let len = data.len();
  if len == 0 {
    return typed_array_from_vec(env, kind, Vec::new());
  }
  let ptr = data.as_mut_ptr();
  let boxed = Box::into_raw(Box::new(Taken {
    storage: data,
    freed: FREED_HERE.with(Arc::clone),
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
    return typed_array_from_vec(env, kind, data.storage.as_slice().to_vec());
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
