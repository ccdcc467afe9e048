//! `Storage`: a growable byte buffer for FrameBuffer columns.
//!
//! Small columns are a plain `Vec<u8>`. On Linux, once a column outgrows [`HUGE`] bytes it moves
//! to an anonymous mapping aligned on 2 MiB; growth uses `mremap`, which moves page tables instead
//! of copying bytes, and freed mappings go to a bounded pool whose pages are already faulted in
//! (filling fresh memory is dominated by page faults). With `SPOOL_NATIVE_THP=1` the mappings are
//! advised for transparent huge pages (512 times fewer faults). Elsewhere it stays a `Vec`.

/// The size from which a column is memory-mapped (and the mapping alignment).
pub const HUGE: usize = 2 << 20;

/// A growable buffer of bytes.
#[derive(Debug)]
pub struct Storage {
  vec: Vec<u8>,
  #[cfg(target_os = "linux")]
  map: Option<Mapping>,
}

impl Default for Storage {
  fn default() -> Self {
    Self::new()
  }
}

impl Storage {
  /// An empty buffer (allocates nothing).
  pub fn new() -> Self {
    Self {
      vec: Vec::new(),
      #[cfg(target_os = "linux")]
      map: None,
    }
  }

  /// Bytes held.
  pub fn len(&self) -> usize {
    #[cfg(target_os = "linux")]
    if let Some(m) = &self.map {
      return m.len;
    }
    self.vec.len()
  }

  /// Whether no byte is held.
  pub fn is_empty(&self) -> bool {
    self.len() == 0
  }

  /// The bytes held.
  pub fn as_slice(&self) -> &[u8] {
    #[cfg(target_os = "linux")]
    if let Some(m) = &self.map {
      // SAFETY: `m.ptr` is a live mapping of `m.cap >= m.len` bytes owned by this Storage, whose
      // first `m.len` bytes were written (copied in by `try_reserve`/`try_extend_from_slice`);
      // the shared borrow of `self` keeps it mapped and unchanged while the slice lives.
      return unsafe { std::slice::from_raw_parts(m.ptr, m.len) };
    }
    &self.vec
  }

  /// Pointer to the first byte (dangling when empty).
  pub fn as_mut_ptr(&mut self) -> *mut u8 {
    #[cfg(target_os = "linux")]
    if let Some(m) = &self.map {
      return m.ptr;
    }
    self.vec.as_mut_ptr()
  }

  /// Make room for `additional` more bytes, or fail without changing anything (a failed
  /// allocation is an error here, never an abort of the process).
  pub fn try_reserve(&mut self, additional: usize) -> Result<(), OutOfMemory> {
    let needed = self.len().checked_add(additional).ok_or(OutOfMemory)?;
    #[cfg(target_os = "linux")]
    {
      if let Some(m) = &mut self.map {
        if needed > m.cap {
          // Double when possible (amortised growth), else exactly what is needed.
          let doubled = needed.max(m.cap.saturating_mul(2));
          if m.try_grow(doubled).is_err() {
            m.try_grow(needed)?;
          }
        }
        return Ok(());
      }
      if needed > HUGE {
        let cap = needed.max(self.vec.capacity().saturating_mul(2));
        if let Some(mut m) = Mapping::new(cap).or_else(|| Mapping::new(needed)) {
          // SAFETY: `m` is a writable mapping of at least `needed >= vec.len()` bytes, holding
          // no bytes yet and separate from the Vec's heap allocation, which is valid for reads
          // of `vec.len()` bytes.
          unsafe { std::ptr::copy_nonoverlapping(self.vec.as_ptr(), m.ptr, self.vec.len()) };
          m.len = self.vec.len();
          self.vec = Vec::new();
          self.map = Some(m);
          return Ok(());
        }
      }
    }
    self.vec.try_reserve(additional).map_err(|_| OutOfMemory)
  }

  /// Append `bytes` (one memcpy), or fail without changing anything.
  pub fn try_extend_from_slice(&mut self, bytes: &[u8]) -> Result<(), OutOfMemory> {
    self.try_reserve(bytes.len())?;
    #[cfg(target_os = "linux")]
    if let Some(m) = &mut self.map {
      // SAFETY: `try_reserve` above made the mapping at least `m.len + bytes.len()` bytes, so
      // the `bytes.len()` bytes from `m.ptr + m.len` are inside it and writable; `bytes` is a
      // borrowed slice, which cannot overlap a mapping owned exclusively by `self`.
      unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), m.ptr.add(m.len), bytes.len()) };
      m.len += bytes.len();
      return Ok(());
    }
    self.vec.extend_from_slice(bytes); // capacity reserved above: no reallocation
    Ok(())
  }
}

/// A column could not get the memory it asked for (the allocation or mapping failed, or the
/// size overflows). Nothing was changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfMemory;

#[cfg(target_os = "linux")]
#[derive(Debug)]
struct Mapping {
  ptr: *mut u8,
  len: usize,
  cap: usize,
}

// SAFETY: a Mapping owns its pages exclusively (like a Vec its allocation): nothing else holds
// `ptr`, so moving the owner to another thread cannot create shared access.
#[cfg(target_os = "linux")]
unsafe impl Send for Mapping {}

#[cfg(target_os = "linux")]
impl Mapping {
  /// Map `at_least` bytes (rounded up to 2 MiB) at a 2 MiB-aligned address, or None.
  fn new(at_least: usize) -> Option<Self> {
    if let Some(mut m) = pool::take() {
      if m.cap < at_least && m.try_grow(at_least).is_err() {
        return None; // `m` goes back to the pool when dropped
      }
      return Some(m);
    }
    let cap = round_up(at_least)?;
    let ptr = reserve_aligned(cap)?;
    advise_huge_pages(ptr, cap);
    Some(Self { ptr, len: 0, cap })
  }

  /// Grow to at least `at_least` bytes, moving the pages (not the bytes) when needed; on
  /// failure the mapping is unchanged.
  fn try_grow(&mut self, at_least: usize) -> Result<(), OutOfMemory> {
    let cap = round_up(at_least).ok_or(OutOfMemory)?;
    let target = reserve_aligned(cap).ok_or(OutOfMemory)?;
    // SAFETY: `self.ptr..+self.cap` is a mapping this Mapping owns, and `target..+cap` a fresh
    // one of ours: MREMAP_FIXED moves our pages onto `target`, replacing the fresh pages there,
    // and touches no other memory. On failure nothing is moved or unmapped.
    let moved = unsafe {
      libc::mremap(
        self.ptr.cast(),
        self.cap,
        cap,
        libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED,
        target.cast::<libc::c_void>(),
      )
    };
    if moved == libc::MAP_FAILED {
      // SAFETY: the move failed, so both mappings are still ours and apart: the first
      // `self.len` bytes of the old one are written, and the new one has `cap > self.cap >=
      // self.len` writable bytes. The old one is unmapped only after the copy, and
      // `self.ptr` is pointed at the new one just below.
      unsafe {
        std::ptr::copy_nonoverlapping(self.ptr, target, self.len);
        libc::munmap(self.ptr.cast(), self.cap);
      }
    }
    advise_huge_pages(target, cap);
    self.ptr = target;
    self.cap = cap;
    Ok(())
  }
}

#[cfg(target_os = "linux")]
impl Drop for Mapping {
  fn drop(&mut self) {
    if self.cap == 0 || pool::give(self) {
      return;
    }
    // SAFETY: `self.ptr..+self.cap` is the mapping this Mapping owns (made by `new` or
    // `try_grow`, not handed to the pool since `cap` is not 0), and nothing borrows it any more.
    // Touches nothing else (no JS engine).
    unsafe {
      libc::munmap(self.ptr.cast(), self.cap);
    }
  }
}

/// Mappings whose pages are already faulted in, kept for the next column instead of being
/// unmapped: refilling them costs a memcpy, no page fault. Bounded by `SPOOL_NATIVE_POOL_MB`
/// (default 512; 0 disables). Used from any thread (a JS engine may free on a GC thread).
#[cfg(target_os = "linux")]
mod pool {
  use super::Mapping;
  use std::sync::{Mutex, OnceLock};

  struct Pool {
    free: Vec<Mapping>,
    bytes: usize,
  }

  fn pool() -> &'static Mutex<Pool> {
    static POOL: OnceLock<Mutex<Pool>> = OnceLock::new();
    POOL.get_or_init(|| {
      Mutex::new(Pool {
        free: Vec::new(),
        bytes: 0,
      })
    })
  }

  fn limit() -> usize {
    static LIMIT: OnceLock<usize> = OnceLock::new();
    *LIMIT.get_or_init(|| {
      std::env::var("SPOOL_NATIVE_POOL_MB")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(512)
        << 20
    })
  }

  /// The largest pooled mapping, if any.
  pub(super) fn take() -> Option<Mapping> {
    let mut p = pool().lock().unwrap_or_else(|e| e.into_inner());
    let i = (0..p.free.len()).max_by_key(|&i| p.free[i].cap)?;
    let m = p.free.swap_remove(i);
    p.bytes -= m.cap;
    Some(m)
  }

  /// Keep `m` (its fields are moved out, leaving it empty) when the pool has room.
  pub(super) fn give(m: &mut Mapping) -> bool {
    let limit = limit();
    if m.cap > limit {
      return false;
    }
    let mut p = pool().lock().unwrap_or_else(|e| e.into_inner());
    if p.bytes + m.cap > limit {
      return false;
    }
    p.bytes += m.cap;
    p.free.push(Mapping {
      ptr: m.ptr,
      len: 0,
      cap: m.cap,
    });
    m.cap = 0;
    true
  }

  /// (mappings pooled, bytes pooled)
  pub fn stats() -> (usize, usize) {
    let p = pool().lock().unwrap_or_else(|e| e.into_inner());
    (p.free.len(), p.bytes)
  }
}

/// (mappings pooled, bytes pooled) of the page pool (always (0, 0) off Linux).
pub fn pool_stats() -> (usize, usize) {
  #[cfg(target_os = "linux")]
  return pool::stats();
  #[cfg(not(target_os = "linux"))]
  return (0, 0);
}

#[cfg(target_os = "linux")]
fn use_thp() -> bool {
  // Opt-in: on a VM whose memory the host backs lazily (Firecracker here), a fresh huge page can
  // cost far more than 512 small ones; on bare metal it is the faster choice. See docs/native.md.
  static THP: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
  *THP.get_or_init(|| std::env::var("SPOOL_NATIVE_THP").is_ok_and(|v| v == "1"))
}

#[cfg(target_os = "linux")]
fn round_up(n: usize) -> Option<usize> {
  n.max(1).div_ceil(HUGE).checked_mul(HUGE)
}

/// With `SPOOL_NATIVE_THP=1`: ask the kernel to back `ptr..ptr + cap`, a mapping of ours, with
/// transparent huge pages. Only advice: nothing happens when it is refused.
#[cfg(target_os = "linux")]
fn advise_huge_pages(ptr: *mut u8, cap: usize) {
  if use_thp() {
    // SAFETY: `ptr..ptr + cap` is a mapping owned by the caller; MADV_HUGEPAGE changes how its
    // pages are backed, never their contents or whether they are mapped.
    unsafe {
      libc::madvise(ptr.cast(), cap, libc::MADV_HUGEPAGE);
    }
  }
}

/// Map `cap` bytes (a multiple of 2 MiB) at a 2 MiB-aligned address.
#[cfg(target_os = "linux")]
fn reserve_aligned(cap: usize) -> Option<*mut u8> {
  let span = cap.checked_add(HUGE)?;
  // SAFETY: a new anonymous private mapping of `span` bytes, at an address the kernel picks (so
  // it overlaps nothing of ours). The two munmaps trim only its own unaligned head and tail:
  // `start <= aligned` and `aligned + cap <= start + span` because `span = cap + HUGE`.
  unsafe {
    let raw = libc::mmap(
      std::ptr::null_mut(),
      span,
      libc::PROT_READ | libc::PROT_WRITE,
      libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
      -1,
      0,
    );
    if raw == libc::MAP_FAILED {
      return None;
    }
    let start = raw as usize;
    let aligned = start.div_ceil(HUGE) * HUGE;
    if aligned > start {
      libc::munmap(raw, aligned - start);
    }
    let end = start + span;
    if end > aligned + cap {
      libc::munmap((aligned + cap) as *mut libc::c_void, end - aligned - cap);
    }
    Some(aligned as *mut u8)
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn grows_across_the_mapping_threshold() {
    let mut s = Storage::new();
    let chunk: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
    for _ in 0..30 {
      s.try_extend_from_slice(&chunk).unwrap();
    }
    assert_eq!(s.len(), 9_000_000);
    for (i, part) in s.as_slice().chunks(300_000).enumerate() {
      assert_eq!(part, &chunk[..], "chunk {i}");
    }
    let mut r = Storage::new();
    r.try_reserve(5 << 20).unwrap();
    r.try_extend_from_slice(&[7; 10]).unwrap();
    assert_eq!(r.as_slice(), &[7; 10]);
  }

  #[test]
  fn a_failed_reservation_is_an_error_and_changes_nothing() {
    for start in [10usize, 3 << 20] {
      // A small Vec, then a mapped column (past HUGE).
      let mut s = Storage::new();
      s.try_extend_from_slice(&vec![5u8; start]).unwrap();
      for huge in [usize::MAX, usize::MAX / 2, 1 << 60, (1 << 47) + 12345] {
        assert_eq!(s.try_reserve(huge), Err(OutOfMemory), "{start} + {huge}");
      }
      assert_eq!(s.len(), start);
      assert!(s.as_slice().iter().all(|&b| b == 5));
      s.try_extend_from_slice(&[6; 3]).unwrap();
      assert_eq!(s.len(), start + 3);
      assert_eq!(&s.as_slice()[start..], &[6; 3]);
    }
  }
}

#[cfg(all(test, target_os = "linux"))]
mod limited_tests {
  use super::*;

  #[test]
  fn an_allocation_that_really_fails_is_an_error() {
    crate::limited::run(
      "storage::limited_tests::an_allocation_that_really_fails_is_an_error",
      16 << 20,
      || {
        let mut s = Storage::new();
        s.try_extend_from_slice(&[1; 10]).unwrap();
        (s, vec![2u8; 3 << 20])
      },
      |(mut s, more)| {
        // Past the cap: neither a mapping (over 2 MiB) nor a Vec can be had; nothing changes.
        assert_eq!(s.try_reserve(64 << 20), Err(OutOfMemory));
        assert_eq!(s.as_slice(), &[1; 10]);
        // Within it the column still grows, into a mapping (past 2 MiB)...
        s.try_extend_from_slice(&more).unwrap();
        assert_eq!(s.len(), 10 + (3 << 20));
        // ...whose growth past the cap fails the same way.
        assert_eq!(s.try_reserve(64 << 20), Err(OutOfMemory));
        assert_eq!(s.len(), 10 + (3 << 20));
        assert!(s.as_slice()[10..].iter().all(|&b| b == 2));
      },
    );
  }
}

#[cfg(test)]
mod timing {
  use super::*;
  use std::time::Instant;

  /// `cargo test --release -- --ignored --nocapture fill_timing`: fill 256 MiB in 64 KiB chunks.
  #[test]
  #[ignore]
  fn fill_timing() {
    let chunk = vec![1u8; 65536];
    for _ in 0..6 {
      let t = Instant::now();
      let mut s = Storage::new();
      for _ in 0..4096 {
        s.try_extend_from_slice(&chunk).unwrap();
      }
      let filled = t.elapsed();
      drop(s);
      println!("fill {:?} with free {:?}", filled, t.elapsed());
    }
  }
}
