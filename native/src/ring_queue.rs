//! `RingQueue`: bounded queues of byte messages, shared by the main thread and Workers.
//!
//! The queues live in a process-wide registry and are reached by a numeric id, so every
//! Worker's instance of the addon (one `napi_env` each, one shared library) sees the same
//! queue. Workers block (`ring_push`, `ring_pop`); the main thread never blocks: it drains with
//! `ring_pop_many` and, when the queue is empty, registers a one-shot threadsafe callback with
//! `ring_wait` that the next push, close or failure fires.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use napi::bindgen_prelude::{Array, Either3, Null, TypedArrayType, Uint8ArraySlice};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{Env, Error, Result, Status};
use napi_derive::napi;

use crate::external::{typed_array_from_vec, RawValue};

/// The main thread's one-shot wake-up callback.
type Waker = ThreadsafeFunction<u32, (), u32, Status, false>;

/// What a pop gives: what it took, or why it took nothing.
#[derive(Debug, PartialEq, Eq)]
pub enum Popped<T> {
  /// A message ([`Queue::pop`]) or at least one message ([`Queue::pop_many`]).
  Taken(T),
  /// Closed and drained: the end of the stream.
  End,
  /// Nothing within the time limit (at once for [`Queue::pop_many`]).
  Timeout,
}

/// A queue's counters, as [`ring_stats`] gives them to JS.
#[napi(object)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RingStats {
  /// Messages queued.
  pub messages: u32,
  /// Bytes queued (the sum of the messages' lengths).
  pub bytes: f64,
  /// Whether the queue is closed (pushes fail; pops drain, then end).
  pub closed: bool,
}

#[derive(Default)]
struct State {
  items: VecDeque<Vec<u8>>,
  bytes: usize,
  closed: bool,
  error: Option<String>,
  waker: Option<Waker>,
}

/// One bounded queue. Independent of Node-API except for the waker (unit-tested).
pub struct Queue {
  state: Mutex<State>,
  readable: Condvar,
  writable: Condvar,
  /// Most messages held at once.
  pub capacity: usize,
}

/// Wait on `condvar` until notified, for at most until `deadline` (forever when None). Returns
/// the guard and whether the deadline had already passed (then it did not wait). A notification
/// may be spurious: the caller checks its condition again.
fn wait_until<'a, T>(
  condvar: &Condvar,
  guard: MutexGuard<'a, T>,
  deadline: Option<Instant>,
) -> (MutexGuard<'a, T>, bool) {
  let Some(deadline) = deadline else {
    return (
      condvar.wait(guard).unwrap_or_else(PoisonError::into_inner),
      false,
    );
  };
  let now = Instant::now();
  if now >= deadline {
    return (guard, true);
  }
  let (guard, _) = condvar
    .wait_timeout(guard, deadline - now)
    .unwrap_or_else(PoisonError::into_inner);
  (guard, false)
}

fn closed_error(action: &str) -> Error {
  Error::new(
    Status::Closing,
    format!("Cannot {action}: the RingQueue is closed"),
  )
}

impl Queue {
  /// A queue holding at most `capacity` messages.
  pub fn new(capacity: usize) -> Self {
    Self {
      state: Mutex::new(State::default()),
      readable: Condvar::new(),
      writable: Condvar::new(),
      capacity: capacity.max(1),
    }
  }

  fn lock(&self) -> MutexGuard<'_, State> {
    // A panic while holding the lock cannot leave the state inconsistent (plain fields).
    self.state.lock().unwrap_or_else(|e| e.into_inner())
  }

  fn wake(state: &mut State) {
    if let Some(waker) = state.waker.take() {
      let n = state.items.len() as u32;
      waker.call(n, ThreadsafeFunctionCallMode::NonBlocking);
    }
  }

  /// Add a message, waiting up to `timeout` (forever when None) for room. Ok(false) on timeout.
  pub fn push(&self, message: Vec<u8>, timeout: Option<Duration>) -> Result<bool> {
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut state = self.lock();
    loop {
      if state.closed {
        return Err(closed_error("push to RingQueue"));
      }
      if state.items.len() < self.capacity {
        break;
      }
      let (next, expired) = wait_until(&self.writable, state, deadline);
      if expired {
        return Ok(false);
      }
      state = next;
    }
    state.bytes += message.len();
    state.items.push_back(message);
    Self::wake(&mut state);
    drop(state);
    self.readable.notify_one();
    Ok(true)
  }

  /// Take up to `max` messages without waiting: End when closed and drained, Timeout when
  /// none is queued yet; an error given to [`Queue::fail`] is returned once the messages before
  /// it are delivered.
  pub fn pop_many(&self, max: usize) -> Result<Popped<Vec<Vec<u8>>>> {
    let mut state = self.lock();
    if state.items.is_empty() {
      return Self::empty(&state);
    }
    let n = max.max(1).min(state.items.len());
    let out: Vec<Vec<u8>> = state.items.drain(..n).collect();
    state.bytes -= out.iter().map(Vec::len).sum::<usize>();
    drop(state);
    if n == 1 {
      self.writable.notify_one();
    } else {
      self.writable.notify_all();
    }
    Ok(Popped::Taken(out))
  }

  /// Why nothing was taken from the empty queue: its failure, its end, or not yet.
  fn empty<T>(state: &State) -> Result<Popped<T>> {
    if let Some(error) = &state.error {
      return Err(Error::new(Status::GenericFailure, error.clone()));
    }
    if state.closed {
      return Ok(Popped::End);
    }
    Ok(Popped::Timeout)
  }

  /// Take one message, waiting up to `timeout` (forever when None).
  pub fn pop(&self, timeout: Option<Duration>) -> Result<Popped<Vec<u8>>> {
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut state = self.lock();
    loop {
      if let Some(message) = state.items.pop_front() {
        state.bytes -= message.len();
        drop(state);
        self.writable.notify_one();
        return Ok(Popped::Taken(message));
      }
      if state.closed {
        return Self::empty(&state);
      }
      let (next, expired) = wait_until(&self.readable, state, deadline);
      if expired {
        return Ok(Popped::Timeout);
      }
      state = next;
    }
  }

  /// Register the main thread's waker unless a message or the end is already there.
  fn wait(&self, waker: Waker) -> bool {
    let mut state = self.lock();
    if !state.items.is_empty() || state.closed {
      return true;
    }
    state.waker = Some(waker);
    false
  }

  /// No more messages: pops deliver what is queued, then the end. With `discard`, queued
  /// messages are dropped (the consumer stopped). Pushes fail from now on.
  pub fn close(&self, discard: bool) {
    let mut state = self.lock();
    state.closed = true;
    if discard {
      state.items.clear();
      state.bytes = 0;
    }
    Self::wake(&mut state);
    drop(state);
    self.readable.notify_all();
    self.writable.notify_all();
  }

  /// Close with an error: pops deliver what is queued, then throw `message`.
  pub fn fail(&self, message: String) {
    let mut state = self.lock();
    if state.error.is_none() && !(state.closed && state.items.is_empty()) {
      state.error = Some(message);
    }
    state.closed = true;
    Self::wake(&mut state);
    drop(state);
    self.readable.notify_all();
    self.writable.notify_all();
  }

  /// Fail unless already closed (used when a producer's environment is torn down).
  pub fn fail_if_open(&self, message: String) {
    let open = !self.lock().closed;
    if open {
      self.fail(message);
    }
  }

  /// Messages and bytes queued, and whether the queue is closed.
  pub fn stats(&self) -> RingStats {
    let state = self.lock();
    RingStats {
      messages: state.items.len() as u32, // at most `capacity`, a u32
      bytes: state.bytes as f64,
      closed: state.closed,
    }
  }

  /// Whether a push now would wait (full and still open).
  fn is_full(&self) -> bool {
    let state = self.lock();
    state.items.len() >= self.capacity && !state.closed
  }
}

fn registry() -> &'static Mutex<HashMap<u32, Arc<Queue>>> {
  static QUEUES: OnceLock<Mutex<HashMap<u32, Arc<Queue>>>> = OnceLock::new();
  QUEUES.get_or_init(|| Mutex::new(HashMap::new()))
}

static NEXT_ID: AtomicU32 = AtomicU32::new(1);

fn queue(id: u32, action: &str) -> Result<Arc<Queue>> {
  registry()
    .lock()
    .unwrap_or_else(|e| e.into_inner())
    .get(&id)
    .cloned()
    .ok_or_else(|| {
      Error::new(
        Status::Closing,
        format!("Cannot {action}: the RingQueue is closed and released, received id {id}"),
      )
    })
}

fn timeout_of(ms: Option<f64>) -> Option<Duration> {
  ms.filter(|m| m.is_finite() && *m >= 0.0)
    .map(|m| Duration::from_micros((m * 1000.0) as u64))
}

/// Create a queue holding at most `capacity` messages; returns its id.
#[napi]
pub fn ring_create(capacity: u32) -> Result<u32> {
  if capacity == 0 {
    return Err(Error::new(
      Status::InvalidArg,
      "Cannot create a RingQueue: capacity must be an integer >= 1, received 0".to_owned(),
    ));
  }
  let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
  registry()
    .lock()
    .unwrap_or_else(|e| e.into_inner())
    .insert(id, Arc::new(Queue::new(capacity as usize)));
  Ok(id)
}

/// Copy `data` into the queue, blocking up to `timeout_ms` (forever when absent) while it is
/// full. Returns false on timeout; throws when the queue is closed. Workers only: it blocks.
#[napi]
pub fn ring_push(id: u32, data: &[u8], timeout_ms: Option<f64>) -> Result<bool> {
  let q = queue(id, "push to RingQueue")?;
  q.push(copy_message(data)?, timeout_of(timeout_ms))
}

/// Like `ring_push` without waiting: false when the queue is full. Safe on the main thread.
#[napi]
pub fn ring_try_push(id: u32, data: &[u8]) -> Result<bool> {
  let q = queue(id, "push to RingQueue")?;
  if q.is_full() {
    return Ok(false); // do not copy for nothing
  }
  q.push(copy_message(data)?, Some(Duration::ZERO))
}

/// The queue's copy of a pushed message; an error (not an abort) when it cannot be allocated.
fn copy_message(data: &[u8]) -> Result<Vec<u8>> {
  crate::recycle::copy_of(data).ok_or_else(|| {
    Error::new(
      Status::GenericFailure,
      format!(
        "Cannot push to RingQueue: out of memory for a copy of the message, received {} bytes",
        data.len()
      ),
    )
  })
}

/// Take one message (a Uint8Array over Rust memory, no copy), blocking up to `timeout_ms`
/// (forever when absent). Returns null at the end, false on timeout; throws the failure.
/// Workers only: it blocks.
#[napi]
pub fn ring_pop(
  env: &Env,
  id: u32,
  timeout_ms: Option<f64>,
) -> Result<Either3<RawValue, Null, bool>> {
  let q = queue(id, "pop from RingQueue")?;
  Ok(match q.pop(timeout_of(timeout_ms))? {
    Popped::Taken(message) => {
      Either3::A(typed_array_from_vec(env, TypedArrayType::Uint8, message)?)
    }
    Popped::End => Either3::B(Null),
    Popped::Timeout => Either3::C(false),
  })
}

/// The result of a pop-many as a JS value: an array of the messages, each turned into a JS value
/// by `to_value` (an empty array on timeout), or None (null) at the end.
fn messages_array<'env>(
  env: &'env Env,
  popped: Popped<Vec<Vec<u8>>>,
  mut to_value: impl FnMut(Vec<u8>) -> Result<RawValue>,
) -> Result<Option<Array<'env>>> {
  let messages = match popped {
    Popped::Taken(messages) => messages,
    Popped::End => return Ok(None),
    Popped::Timeout => Vec::new(),
  };
  let mut array = env.create_array(messages.len() as u32)?; // at most `capacity`, a u32
  for (i, message) in (0u32..).zip(messages) {
    array.set(i, to_value(message)?)?;
  }
  Ok(Some(array))
}

/// Take up to `max` queued messages without waiting: an array (empty when none is queued yet),
/// or null at the end; throws the failure once the messages before it are taken.
#[napi]
pub fn ring_pop_many(env: &Env, id: u32, max: u32) -> Result<Option<Array<'_>>> {
  let q = queue(id, "pop from RingQueue")?;
  messages_array(env, q.pop_many(max as usize)?, |message| {
    typed_array_from_vec(env, TypedArrayType::Uint8, message)
  })
}

/// Like `ring_pop_many`, but each message is copied into a new engine-owned ArrayBuffer and its
/// Rust buffer goes straight back to the pushes' free list (warm memory, no page faults).
#[napi]
pub fn ring_pop_many_copied(env: &Env, id: u32, max: u32) -> Result<Option<Array<'_>>> {
  let q = queue(id, "pop from RingQueue")?;
  messages_array(env, q.pop_many(max as usize)?, |message| {
    let view = RawValue::of(&Uint8ArraySlice::copy_from(env, &message)?);
    crate::recycle::give(message);
    Ok(view)
  })
}

/// Main thread: returns true when a message or the end is already there; otherwise keeps
/// `callback` and calls it once (from the event loop) at the next push, close or failure.
#[napi]
pub fn ring_wait(id: u32, callback: Waker) -> Result<bool> {
  let q = queue(id, "wait on RingQueue")?;
  Ok(q.wait(callback))
}

/// Close: pops deliver the queued messages, then the end (`discard` drops them instead).
/// Blocked pushes and later pushes throw. Closing a released queue does nothing.
#[napi]
pub fn ring_close(id: u32, discard: Option<bool>) {
  if let Ok(q) = queue(id, "close RingQueue") {
    q.close(discard.unwrap_or(false));
  }
}

/// Fail: pops deliver the queued messages, then throw `message`.
#[napi]
pub fn ring_fail(id: u32, message: String) {
  if let Ok(q) = queue(id, "fail RingQueue") {
    q.fail(message);
  }
}

/// Forget the queue (after both sides are done). Further calls with this id throw.
#[napi]
pub fn ring_release(id: u32) {
  let removed = registry()
    .lock()
    .unwrap_or_else(|e| e.into_inner())
    .remove(&id);
  if let Some(q) = removed {
    q.close(true);
  }
}

/// Message buffers kept for reuse by pushes, as [`ring_recycled`] gives them to JS.
#[napi(object)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecycledBuffers {
  /// Buffers kept.
  pub buffers: u32,
  /// Their capacity in bytes (at most [`crate::recycle::LIMIT`]).
  pub bytes: f64,
}

/// The buffers kept for reuse by pushes.
#[napi]
pub fn ring_recycled() -> RecycledBuffers {
  let (buffers, bytes) = crate::recycle::stats();
  RecycledBuffers {
    buffers: buffers as u32,
    bytes: bytes as f64,
  }
}

/// Number of queues in the registry (to check that none leaks).
#[napi]
pub fn ring_count() -> u32 {
  registry().lock().unwrap_or_else(|e| e.into_inner()).len() as u32
}

/// Messages and bytes queued, and whether the queue is closed.
#[napi]
pub fn ring_stats(id: u32) -> Result<RingStats> {
  Ok(queue(id, "read RingQueue stats")?.stats())
}

/// Called in a producer Worker: when this Worker's environment is torn down (the Worker ends
/// or is terminated) while the queue is still open, the queue fails so the consumer does not
/// wait forever.
#[napi]
pub fn ring_attach_producer(env: Env, id: u32) -> Result<()> {
  queue(id, "attach a producer to RingQueue")?;
  env.add_env_cleanup_hook(id, |id| {
    if let Ok(q) = queue(id, "fail RingQueue") {
      q.fail_if_open("the producer Worker ended without closing the queue".to_owned());
    }
  })?;
  Ok(())
}

#[cfg(test)]
mod tests {
  use super::*;
  use std::thread;

  #[test]
  fn fifo_bounded_and_closes() {
    let q = Arc::new(Queue::new(2));
    assert!(q.push(vec![1], None).unwrap());
    assert!(q.push(vec![2], None).unwrap());
    assert!(
      !q.push(vec![3], Some(Duration::from_millis(1))).unwrap(),
      "full: times out"
    );
    let p = {
      let q = q.clone();
      thread::spawn(move || q.push(vec![3], None).unwrap())
    };
    assert_eq!(q.pop(None).unwrap(), Popped::Taken(vec![1]));
    assert!(p.join().unwrap());
    assert_eq!(
      q.pop_many(10).unwrap(),
      Popped::Taken(vec![vec![2], vec![3]])
    );
    assert_eq!(
      q.pop(Some(Duration::from_millis(1))).unwrap(),
      Popped::Timeout
    );
    q.close(false);
    assert_eq!(q.pop(None).unwrap(), Popped::End);
    assert!(q.push(vec![4], None).is_err());
  }

  #[test]
  fn failure_after_queued_messages() {
    let q = Queue::new(4);
    q.push(vec![1, 2], None).unwrap();
    q.fail("boom".into());
    assert_eq!(
      q.stats(),
      RingStats {
        messages: 1,
        bytes: 2.0,
        closed: true
      }
    );
    assert_eq!(q.pop(None).unwrap(), Popped::Taken(vec![1, 2]));
    assert_eq!(q.pop(None).unwrap_err().reason, "boom");
    assert_eq!(q.pop_many(3).unwrap_err().reason, "boom");
  }

  #[test]
  fn close_wakes_blocked_threads() {
    let q = Arc::new(Queue::new(1));
    let consumer = {
      let q = q.clone();
      thread::spawn(move || q.pop(None).unwrap())
    };
    thread::sleep(Duration::from_millis(10));
    q.close(true);
    assert_eq!(consumer.join().unwrap(), Popped::End);
    let q = Arc::new(Queue::new(1));
    q.push(vec![0], None).unwrap();
    let producer = {
      let q = q.clone();
      thread::spawn(move || q.push(vec![1], None).is_err())
    };
    thread::sleep(Duration::from_millis(10));
    q.close(true);
    assert!(
      producer.join().unwrap(),
      "a blocked push throws once closed"
    );
  }
}
