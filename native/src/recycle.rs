//! Message buffers handed to JavaScript come back here when the engine frees them, and the next
//! `ring_push` reuses them: their pages are already faulted in, so a push costs a memcpy instead
//! of a fresh allocation whose first touch faults every page (the dominant cost of moving 64 KiB
//! messages). Bounded to [`LIMIT`] bytes; used from any thread (frees may come from a GC thread).

use std::sync::Mutex;

/// Most bytes of capacity kept for reuse.
pub const LIMIT: usize = 64 << 20;

struct Free {
  buffers: Vec<Vec<u8>>,
  bytes: usize,
}

static FREE: Mutex<Free> = Mutex::new(Free {
  buffers: Vec::new(),
  bytes: 0,
});

/// Keep `buffer` for reuse when there is room (otherwise it is freed).
pub fn give(mut buffer: Vec<u8>) {
  let cap = buffer.capacity();
  if cap < 4096 {
    return; // small allocations are cheap: let the allocator have them
  }
  let mut free = FREE.lock().unwrap_or_else(|e| e.into_inner());
  if free.bytes + cap <= LIMIT {
    buffer.clear();
    free.bytes += cap;
    free.buffers.push(buffer);
  }
}

/// A copy of `data` in a recycled buffer when one is large enough, else in a new one; None when
/// the memory cannot be allocated (an error for the caller, never an abort of the process).
pub fn copy_of(data: &[u8]) -> Option<Vec<u8>> {
  if data.len() >= 4096 {
    let reused = {
      let mut free = FREE.lock().unwrap_or_else(|e| e.into_inner());
      // Look at the most recently freed few (warmest in cache) for one that fits.
      let n = free.buffers.len();
      let found = (n.saturating_sub(8)..n).rev().find(|&i| {
        let cap = free.buffers[i].capacity();
        cap >= data.len() && cap <= data.len() * 2
      });
      found.map(|i| {
        let b = free.buffers.swap_remove(i);
        free.bytes -= b.capacity();
        b
      })
    };
    if let Some(mut b) = reused {
      b.extend_from_slice(data); // fits: capacity >= data.len(), no allocation
      return Some(b);
    }
  }
  let mut copy = Vec::new();
  copy.try_reserve_exact(data.len()).ok()?;
  copy.extend_from_slice(data);
  Some(copy)
}

/// (buffers kept, bytes kept)
pub fn stats() -> (usize, usize) {
  let free = FREE.lock().unwrap_or_else(|e| e.into_inner());
  (free.buffers.len(), free.bytes)
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn reuses_a_fitting_buffer() {
    let a = copy_of(&[1u8; 8192]).unwrap();
    let ptr = a.as_ptr();
    give(a);
    let b = copy_of(&[2u8; 8000]).unwrap();
    assert_eq!(b.as_ptr(), ptr);
    assert_eq!(b.len(), 8000);
    assert!(b.iter().all(|&x| x == 2));
    let c = copy_of(&[3u8; 100]).unwrap();
    assert_eq!(c.len(), 100);
  }

  #[cfg(target_os = "linux")]
  #[test]
  fn a_copy_that_cannot_be_allocated_is_none() {
    crate::limited::run(
      "recycle::tests::a_copy_that_cannot_be_allocated_is_none",
      16 << 20,
      || vec![9u8; 64 << 20],
      |message| {
        assert!(copy_of(&message).is_none());
        assert_eq!(copy_of(&message[..4096]).unwrap(), &message[..4096]);
      },
    );
  }
}
