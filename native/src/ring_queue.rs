//! `RingQueue`: bounded queues of byte messages, shared by the main thread and Workers.
//!
//! The queues live in a process-wide registry and are reached by a numeric id, so every
//! Worker's instance of the addon (one `napi_env` each, one shared library) sees the same
//! queue. Workers block (`ring_push`, `ring_pop`); the main thread never blocks: it drains with
//! `ring_pop_many` and, when the queue is empty, registers a one-shot threadsafe callback with
//! `ring_wait` that the next push, close or failure fires.

use std::collections::{HashMap, VecDeque};
use std::ptr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{sys, Env, Error, Result, Status};
use napi_derive::napi;

use crate::external::{check, typed_array_from_vec, RawValue};

/// The main thread's one-shot wake-up callback.
type Waker = ThreadsafeFunction<u32, (), u32, Status, false>;

/// Why a pop returned nothing.
#[derive(Debug, PartialEq, Eq)]
pub enum Empty {
  /// Closed and drained: the end of the stream.
  End,
  /// Nothing within the time limit.
  Timeout,
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
      state = match deadline {
        None => self.writable.wait(state).unwrap_or_else(|e| e.into_inner()),
        Some(d) => {
          let now = Instant::now();
          if now >= d {
            return Ok(false);
          }
          self
            .writable
            .wait_timeout(state, d - now)
            .unwrap_or_else(|e| e.into_inner())
            .0
        }
      };
    }
    state.bytes += message.len();
    state.items.push_back(message);
    Self::wake(&mut state);
    drop(state);
    self.readable.notify_one();
    Ok(true)
  }

  /// Take up to `max` messages without waiting. Err(End) when closed and drained; an error
  /// given to [`Queue::fail`] is returned once the messages before it are delivered.
  pub fn pop_many(&self, max: usize) -> Result<std::result::Result<Vec<Vec<u8>>, Empty>> {
    let mut state = self.lock();
    if state.items.is_empty() {
      return Self::empty(&state).map(Err);
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
    Ok(Ok(out))
  }

  fn empty(state: &State) -> Result<Empty> {
    if let Some(error) = &state.error {
      return Err(Error::new(Status::GenericFailure, error.clone()));
    }
    if state.closed {
      return Ok(Empty::End);
    }
    Ok(Empty::Timeout)
  }

  /// Take one message, waiting up to `timeout` (forever when None).
  pub fn pop(&self, timeout: Option<Duration>) -> Result<std::result::Result<Vec<u8>, Empty>> {
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut state = self.lock();
    loop {
      if let Some(message) = state.items.pop_front() {
        state.bytes -= message.len();
        drop(state);
        self.writable.notify_one();
        return Ok(Ok(message));
      }
      if state.closed {
        return Self::empty(&state).map(Err);
      }
      state = match deadline {
        None => self.readable.wait(state).unwrap_or_else(|e| e.into_inner()),
        Some(d) => {
          let now = Instant::now();
          if now >= d {
            return Ok(Err(Empty::Timeout));
          }
          self
            .readable
            .wait_timeout(state, d - now)
            .unwrap_or_else(|e| e.into_inner())
            .0
        }
      };
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

  /// (messages queued, bytes queued, closed)
  pub fn stats(&self) -> (usize, usize, bool) {
    let state = self.lock();
    (state.items.len(), state.bytes, state.closed)
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
  let (queued, _, closed) = q.stats();
  if queued >= q.capacity && !closed {
    return Ok(false); // full: do not copy for nothing
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

fn empty_value(env: &Env, empty: Empty) -> Result<RawValue> {
  let mut value = ptr::null_mut();
  match empty {
    Empty::End => check(
      unsafe { sys::napi_get_null(env.raw(), &mut value) },
      "get null",
    )?,
    Empty::Timeout => check(
      unsafe { sys::napi_get_boolean(env.raw(), false, &mut value) },
      "get false",
    )?,
  }
  Ok(RawValue(value))
}

/// Take one message (a Uint8Array over Rust memory, no copy), blocking up to `timeout_ms`
/// (forever when absent). Returns null at the end, false on timeout; throws the failure.
/// Workers only: it blocks.
#[napi]
pub fn ring_pop(env: Env, id: u32, timeout_ms: Option<f64>) -> Result<RawValue> {
  let q = queue(id, "pop from RingQueue")?;
  match q.pop(timeout_of(timeout_ms))? {
    Ok(message) => Ok(RawValue(typed_array_from_vec(
      env.raw(),
      sys::TypedarrayType::uint8_array,
      message,
    )?)),
    Err(empty) => empty_value(&env, empty),
  }
}

/// The result of a pop-many as a JS value: an array of the messages, each turned into a JS value
/// by `to_value` (an empty array on timeout), or null at the end.
fn messages_value(
  env: &Env,
  popped: std::result::Result<Vec<Vec<u8>>, Empty>,
  mut to_value: impl FnMut(sys::napi_env, Vec<u8>) -> Result<sys::napi_value>,
) -> Result<RawValue> {
  let raw = env.raw();
  let messages = match popped {
    Ok(messages) => messages,
    Err(Empty::End) => return empty_value(env, Empty::End),
    Err(Empty::Timeout) => Vec::new(),
  };
  let mut array = ptr::null_mut();
  check(
    unsafe { sys::napi_create_array_with_length(raw, messages.len(), &mut array) },
    "create an array",
  )?;
  for (i, m) in messages.into_iter().enumerate() {
    let value = to_value(raw, m)?;
    check(
      unsafe { sys::napi_set_element(raw, array, i as u32, value) },
      "set an array element",
    )?;
  }
  Ok(RawValue(array))
}

/// Take up to `max` queued messages without waiting: an array (empty when none is queued yet),
/// or null at the end; throws the failure once the messages before it are taken.
#[napi]
pub fn ring_pop_many(env: Env, id: u32, max: u32) -> Result<RawValue> {
  let q = queue(id, "pop from RingQueue")?;
  messages_value(&env, q.pop_many(max as usize)?, |raw, m| {
    typed_array_from_vec(raw, sys::TypedarrayType::uint8_array, m)
  })
}

/// Like `ring_pop_many`, but each message is copied into a new engine-owned ArrayBuffer and its
/// Rust buffer goes straight back to the pushes' free list (warm memory, no page faults).
#[napi]
pub fn ring_pop_many_copied(env: Env, id: u32, max: u32) -> Result<RawValue> {
  let q = queue(id, "pop from RingQueue")?;
  messages_value(&env, q.pop_many(max as usize)?, |raw, m| {
    let mut data = ptr::null_mut();
    let mut buffer = ptr::null_mut();
    check(
      unsafe { sys::napi_create_arraybuffer(raw, m.len(), &mut data, &mut buffer) },
      "create an ArrayBuffer",
    )?;
    if !m.is_empty() {
      unsafe { ptr::copy_nonoverlapping(m.as_ptr(), data.cast::<u8>(), m.len()) };
    }
    let mut view = ptr::null_mut();
    check(
      unsafe {
        sys::napi_create_typedarray(
          raw,
          sys::TypedarrayType::uint8_array,
          m.len(),
          buffer,
          0,
          &mut view,
        )
      },
      "create a Uint8Array",
    )?;
    crate::recycle::give(m);
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

/// [buffers, bytes] kept for reuse by pushes.
#[napi]
pub fn ring_recycled() -> Vec<f64> {
  let (n, bytes) = crate::recycle::stats();
  vec![n as f64, bytes as f64]
}

/// Number of queues in the registry (to check that none leaks).
#[napi]
pub fn ring_count() -> u32 {
  registry().lock().unwrap_or_else(|e| e.into_inner()).len() as u32
}

/// [messages queued, bytes queued, closed (0/1)]
#[napi]
pub fn ring_stats(id: u32) -> Result<Vec<f64>> {
  let q = queue(id, "read RingQueue stats")?;
  let (n, bytes, closed) = q.stats();
  Ok(vec![n as f64, bytes as f64, if closed { 1.0 } else { 0.0 }])
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
    assert_eq!(q.pop(None).unwrap().unwrap(), vec![1]);
    assert!(p.join().unwrap());
    assert_eq!(q.pop_many(10).unwrap().unwrap(), vec![vec![2], vec![3]]);
    assert_eq!(
      q.pop(Some(Duration::from_millis(1))).unwrap().unwrap_err(),
      Empty::Timeout
    );
    q.close(false);
    assert_eq!(q.pop(None).unwrap().unwrap_err(), Empty::End);
    assert!(q.push(vec![4], None).is_err());
  }

  #[test]
  fn failure_after_queued_messages() {
    let q = Queue::new(4);
    q.push(vec![1, 2], None).unwrap();
    q.fail("boom".into());
    assert_eq!(q.stats(), (1, 2, true));
    assert_eq!(q.pop(None).unwrap().unwrap(), vec![1, 2]);
    assert_eq!(q.pop(None).unwrap_err().reason, "boom");
    assert_eq!(q.pop_many(3).unwrap_err().reason, "boom");
  }

  #[test]
  fn close_wakes_blocked_threads() {
    let q = Arc::new(Queue::new(1));
    let consumer = {
      let q = q.clone();
      thread::spawn(move || q.pop(None).unwrap().unwrap_err())
    };
    thread::sleep(Duration::from_millis(10));
    q.close(true);
    assert_eq!(consumer.join().unwrap(), Empty::End);
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
