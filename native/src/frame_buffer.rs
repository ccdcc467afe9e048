//! `NativeFrameBuffer`: columns of typed arrays appended chunk by chunk, concatenated once.
//!
//! Each column is one growing `Vec<u8>`: an append copies the chunk once (memcpy); growth goes
//! through `realloc`, which for large buffers remaps pages instead of copying them. `take()`
//! moves each Vec into an external ArrayBuffer: the bytes are never copied a second time.

use napi::bindgen_prelude::{TypedArray, TypedArrayType};
use napi::{Env, Error, Result, Status};
use napi_derive::napi;

use crate::external::{element_size, report_external_memory, typed_array_from_storage, RawValue};
use crate::storage::Storage;

/// Typed-array kinds by constructor name, in Node-API order.
pub const KINDS: [(&str, TypedArrayType); 11] = [
  ("Int8Array", TypedArrayType::Int8),
  ("Uint8Array", TypedArrayType::Uint8),
  ("Uint8ClampedArray", TypedArrayType::Uint8Clamped),
  ("Int16Array", TypedArrayType::Int16),
  ("Uint16Array", TypedArrayType::Uint16),
  ("Int32Array", TypedArrayType::Int32),
  ("Uint32Array", TypedArrayType::Uint32),
  ("Float32Array", TypedArrayType::Float32),
  ("Float64Array", TypedArrayType::Float64),
  ("BigInt64Array", TypedArrayType::BigInt64),
  ("BigUint64Array", TypedArrayType::BigUint64),
];

/// Constructor name of a typed-array kind.
pub fn kind_name(kind: TypedArrayType) -> &'static str {
  KINDS
    .iter()
    .find(|(_, k)| *k == kind)
    .map_or("unknown typed array", |(n, _)| n)
}

fn kind_of(name: &str) -> Option<TypedArrayType> {
  KINDS.iter().find(|(n, _)| *n == name).map(|(_, k)| *k)
}

fn invalid(action: &str, reason: String) -> Error {
  Error::new(Status::InvalidArg, format!("Cannot {action}: {reason}"))
}

fn out_of_memory(action: &str, bytes: usize, column: &str, rows: usize) -> Error {
  Error::new(
    Status::GenericFailure,
    format!(
      "Cannot {action}: out of memory for {bytes} more bytes in column {column:?}, received {rows}"
    ),
  )
}

fn closed(action: &str) -> Error {
  Error::new(
    Status::Closing,
    format!("Cannot {action}: the FrameBuffer is closed"),
  )
}

/// The storage of a frame buffer, independent of Node-API (unit-tested with `cargo test`).
pub struct Columns {
  names: Vec<String>,
  kinds: Vec<TypedArrayType>,
  data: Vec<Storage>,
  rows: usize,
  bytes: usize,
  closed: bool,
}

impl Columns {
  /// Columns named `names` of the typed-array kinds `kinds` (constructor names).
  pub fn new(names: Vec<String>, kinds: &[String]) -> Result<Self> {
    const ACTION: &str = "create a FrameBuffer";
    if names.is_empty() {
      return Err(invalid(
        ACTION,
        "at least one column is needed, received 0".into(),
      ));
    }
    if names.len() != kinds.len() {
      return Err(invalid(
        ACTION,
        format!("{} names but {} kinds", names.len(), kinds.len()),
      ));
    }
    let mut parsed = Vec::with_capacity(kinds.len());
    for (name, kind) in names.iter().zip(kinds) {
      let k = kind_of(kind).ok_or_else(|| {
        invalid(
          ACTION,
          format!("column {name:?} has an unknown kind, received {kind:?}"),
        )
      })?;
      parsed.push(k);
    }
    for (i, name) in names.iter().enumerate() {
      if names[..i].contains(name) {
        return Err(invalid(
          ACTION,
          format!("column names must be unique, received {name:?} twice"),
        ));
      }
    }
    let data = names.iter().map(|_| Storage::new()).collect();
    Ok(Self {
      names,
      kinds: parsed,
      data,
      rows: 0,
      bytes: 0,
      closed: false,
    })
  }

  /// Rows appended since the last take.
  pub fn rows(&self) -> usize {
    self.rows
  }

  /// Bytes held (sum of the columns' lengths), exact.
  pub fn bytes(&self) -> usize {
    self.bytes
  }

  /// Reserve room for `rows` more rows in every column. A failed allocation is an error (the
  /// rows held are unchanged), never an abort of the process.
  pub fn reserve(&mut self, rows: usize) -> Result<()> {
    const ACTION: &str = "reserve rows in a FrameBuffer";
    if self.closed {
      return Err(closed(ACTION));
    }
    for ((column, kind), name) in self.data.iter_mut().zip(&self.kinds).zip(&self.names) {
      let bytes = rows.saturating_mul(element_size(*kind));
      column
        .try_reserve(bytes)
        .map_err(|_| out_of_memory(ACTION, bytes, name, rows))?;
    }
    Ok(())
  }

  /// Check one chunk (kinds and lengths as given) before anything is copied; returns its rows.
  pub fn check(&self, chunk: &[(TypedArrayType, usize)]) -> Result<usize> {
    const ACTION: &str = "append to FrameBuffer";
    if self.closed {
      return Err(closed(ACTION));
    }
    if chunk.len() != self.names.len() {
      return Err(invalid(
        ACTION,
        format!(
          "expected {} columns ({}), received {}",
          self.names.len(),
          self.names.join(", "),
          chunk.len()
        ),
      ));
    }
    let mut rows = None;
    for (i, (kind, byte_len)) in chunk.iter().enumerate() {
      if *kind != self.kinds[i] {
        return Err(invalid(
          ACTION,
          format!(
            "column {:?} must be a {}, received {}",
            self.names[i],
            kind_name(self.kinds[i]),
            kind_name(*kind)
          ),
        ));
      }
      let n = byte_len / element_size(*kind);
      match rows {
        None => rows = Some(n),
        Some(r) if r != n => {
          return Err(invalid(
            ACTION,
            format!(
            "columns must have equal lengths, column {:?} has {} rows, received {} in column {:?}",
            self.names[0], r, n, self.names[i]
          ),
          ))
        }
        _ => {}
      }
    }
    Ok(rows.unwrap_or(0))
  }

  /// Append one chunk already checked with [`Columns::check`]: all of it, or nothing when a
  /// column cannot get the memory (an error, never an abort of the process).
  pub fn push(&mut self, rows: usize, chunk: &[&[u8]]) -> Result<()> {
    const ACTION: &str = "append to FrameBuffer";
    // Room in every column first, so that a failure leaves the buffer as it was.
    for ((column, bytes), name) in self.data.iter_mut().zip(chunk).zip(&self.names) {
      column
        .try_reserve(bytes.len())
        .map_err(|_| out_of_memory(ACTION, bytes.len(), name, rows))?;
    }
    for ((column, bytes), name) in self.data.iter_mut().zip(chunk).zip(&self.names) {
      if bytes.is_empty() {
        continue;
      }
      column
        .try_extend_from_slice(bytes)
        .map_err(|_| out_of_memory(ACTION, bytes.len(), name, rows))?;
      self.bytes += bytes.len();
    }
    self.rows += rows;
    Ok(())
  }

  /// Hand the columns over and start empty.
  pub fn take(&mut self) -> Result<Vec<(TypedArrayType, Storage)>> {
    if self.closed {
      return Err(closed("take from FrameBuffer"));
    }
    self.rows = 0;
    self.bytes = 0;
    Ok(
      self
        .kinds
        .iter()
        .zip(self.data.iter_mut())
        .map(|(k, d)| (*k, std::mem::take(d)))
        .collect(),
    )
  }

  /// Free the memory; later calls fail.
  pub fn close(&mut self) {
    self.closed = true;
    self.rows = 0;
    self.bytes = 0;
    self.data = self.names.iter().map(|_| Storage::new()).collect();
  }

  /// Whether [`Columns::close`] was called.
  pub fn is_closed(&self) -> bool {
    self.closed
  }
}

/// Node-API class behind spool's `FrameBuffer` when the native implementation is active.
#[napi]
pub struct NativeFrameBuffer {
  columns: Columns,
}

#[napi]
impl NativeFrameBuffer {
  /// Columns `names` of kinds `kinds` (typed-array constructor names, e.g. "Float64Array").
  #[napi(constructor)]
  pub fn new(names: Vec<String>, kinds: Vec<String>) -> Result<Self> {
    Ok(Self {
      columns: Columns::new(names, &kinds)?,
    })
  }

  /// Append one chunk: one typed array per column, in the constructor's order.
  #[napi]
  pub fn append(&mut self, chunk: Vec<TypedArray>) -> Result<()> {
    let shape: Vec<_> = chunk
      .iter()
      .map(|a| (a.typed_array_type, a.arraybuffer.len()))
      .collect();
    let rows = self.columns.check(&shape)?;
    let slices: Vec<&[u8]> = chunk.iter().map(|a| &*a.arraybuffer).collect();
    self.columns.push(rows, &slices)
  }

  /// Append a single-column chunk (no array of arrays to build on the JS side).
  #[napi]
  pub fn append1(&mut self, column: TypedArray) -> Result<()> {
    let rows = self
      .columns
      .check(&[(column.typed_array_type, column.arraybuffer.len())])?;
    self.columns.push(rows, &[&column.arraybuffer])
  }

  /// Reserve room for `rows` more rows in every column.
  #[napi]
  pub fn reserve(&mut self, rows: f64) -> Result<()> {
    if !(rows.is_finite() && rows >= 0.0) {
      return Err(invalid(
        "reserve rows in a FrameBuffer",
        format!("rows must be >= 0, received {rows}"),
      ));
    }
    self.columns.reserve(rows as usize)
  }

  /// Rows appended since the last take.
  #[napi(getter)]
  pub fn rows(&self) -> f64 {
    self.columns.rows() as f64
  }

  /// Bytes held, exact.
  #[napi(getter)]
  pub fn byte_length(&self) -> f64 {
    self.columns.bytes() as f64
  }

  /// Whether the buffer is closed.
  #[napi(getter)]
  pub fn closed(&self) -> bool {
    self.columns.is_closed()
  }

  /// The concatenated columns (external ArrayBuffers, no copy), in the constructor's order.
  #[napi]
  pub fn take(&mut self, env: &Env) -> Result<Vec<RawValue>> {
    let columns = self.columns.take()?;
    let mut arrays = Vec::with_capacity(columns.len());
    let mut external = 0usize;
    let mut failure = None;
    for (kind, data) in columns {
      match typed_array_from_storage(env, kind, data) {
        Ok((array, bytes)) => {
          arrays.push(array);
          external += bytes;
        }
        Err(e) => {
          failure = Some(e);
          break;
        }
      }
    }
    // Exactly the bytes handed over as external ArrayBuffers (whose finalizers will credit
    // them), also when a later column failed.
    report_external_memory(env, external);
    failure.map_or(Ok(arrays), Err)
  }

  /// Free the memory; later appends and takes throw.
  #[napi]
  pub fn close(&mut self) {
    self.columns.close();
  }
}

/// The page pool that FrameBuffer columns reuse, as [`frame_pool_stats`] gives it to JS.
#[napi(object)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PagePoolStats {
  /// Mappings kept (Linux; else 0).
  pub mappings: u32,
  /// Their size in bytes (at most `SPOOL_NATIVE_POOL_MB` MiB; Linux, else 0).
  pub bytes: f64,
}

/// The page pool that FrameBuffer columns reuse.
#[napi]
pub fn frame_pool_stats() -> PagePoolStats {
  let (mappings, bytes) = crate::storage::pool_stats();
  PagePoolStats {
    mappings: mappings as u32,
    bytes: bytes as f64,
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  fn cols() -> Columns {
    Columns::new(
      vec!["x".into(), "y".into()],
      &["Float64Array".into(), "Int32Array".into()],
    )
    .unwrap()
  }

  #[test]
  fn appends_and_takes() {
    let mut c = cols();
    let x = [1f64.to_ne_bytes(), 2f64.to_ne_bytes()].concat();
    let y = [7i32.to_ne_bytes(), 8i32.to_ne_bytes()].concat();
    let shape = [
      (TypedArrayType::Float64, x.len()),
      (TypedArrayType::Int32, y.len()),
    ];
    let rows = c.check(&shape).unwrap();
    assert_eq!(rows, 2);
    c.push(rows, &[&x, &y]).unwrap();
    c.push(rows, &[&x, &y]).unwrap();
    assert_eq!(c.rows(), 4);
    assert_eq!(c.bytes(), 48);
    let out = c.take().unwrap();
    assert_eq!(out[0].1.len(), 32);
    assert_eq!(out[1].1.len(), 16);
    assert_eq!(&out[0].1.as_slice()[16..24], &1f64.to_ne_bytes());
    assert_eq!(c.rows(), 0);
    assert_eq!(c.bytes(), 0);
  }

  #[test]
  fn refuses_bad_chunks() {
    let c = cols();
    let e = c.check(&[(TypedArrayType::Float64, 8)]).unwrap_err();
    assert!(e.reason.contains("expected 2 columns"), "{}", e.reason);
    let e = c
      .check(&[(TypedArrayType::Float32, 8), (TypedArrayType::Int32, 8)])
      .unwrap_err();
    assert!(
      e.reason
        .contains("column \"x\" must be a Float64Array, received Float32Array"),
      "{}",
      e.reason
    );
    let e = c
      .check(&[(TypedArrayType::Float64, 8), (TypedArrayType::Int32, 8)])
      .unwrap_err();
    assert!(e.reason.contains("equal lengths"), "{}", e.reason);
    assert!(Columns::new(
      vec!["a".into(), "a".into()],
      &["Int8Array".into(), "Int8Array".into()]
    )
    .is_err());
    assert!(Columns::new(vec!["a".into()], &["Float128Array".into()]).is_err());
  }

  #[test]
  fn a_reservation_beyond_memory_is_an_error_not_an_abort() {
    let mut c = cols();
    c.reserve(16).unwrap();
    for rows in [usize::MAX, 1 << 50, 1 << 60] {
      let e = c.reserve(rows).unwrap_err();
      assert_eq!(e.status, Status::GenericFailure);
      assert!(
        e.reason
          .starts_with("Cannot reserve rows in a FrameBuffer: out of memory for "),
        "{}",
        e.reason
      );
      assert!(
        e.reason.ends_with(&format!(", received {rows}")),
        "{}",
        e.reason
      );
    }
    // Still usable.
    let x = 1f64.to_ne_bytes();
    let y = 2i32.to_ne_bytes();
    c.push(1, &[&x, &y]).unwrap();
    assert_eq!(c.rows(), 1);
    assert_eq!(c.bytes(), 12);
  }

  #[cfg(target_os = "linux")]
  #[test]
  fn an_append_that_cannot_be_allocated_is_an_error_and_appends_nothing() {
    crate::limited::run(
      "frame_buffer::tests::an_append_that_cannot_be_allocated_is_an_error_and_appends_nothing",
      16 << 20,
      || (cols(), vec![0u8; 64 << 20], vec![0u8; 32 << 20]),
      |(mut c, x, y)| {
        let x1 = 1f64.to_ne_bytes();
        let y1 = 2i32.to_ne_bytes();
        c.push(1, &[&x1, &y1]).unwrap();
        // 8 Mi rows: 64 MiB in x, 32 MiB in y, past the cap.
        let e = c.push(8 << 20, &[&x, &y]).unwrap_err();
        assert_eq!(e.status, Status::GenericFailure);
        assert!(
          e.reason
            .starts_with("Cannot append to FrameBuffer: out of memory for "),
          "{}",
          e.reason
        );
        assert_eq!((c.rows(), c.bytes()), (1, 12), "nothing was appended");
        let out = c.take().unwrap();
        assert_eq!(out[0].1.as_slice(), &x1);
        assert_eq!(out[1].1.as_slice(), &y1);
      },
    );
  }

  #[test]
  fn closed_refuses() {
    let mut c = cols();
    c.close();
    assert!(c.take().unwrap_err().reason.contains("closed"));
    assert!(c.check(&[]).unwrap_err().reason.contains("closed"));
  }
}
