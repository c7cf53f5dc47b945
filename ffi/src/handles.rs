//! What a `ws_socket *` is: a handle, not an address. Its value names a slot
//! of the process-wide table of sockets and the generation of that slot, so
//! that every call can tell a live socket from one that was freed (or from a
//! value that never was a socket), and a call in progress keeps its socket
//! alive while ws_free() runs on another thread:
//!
//! - [`acquire`] counts a call in the slot before the call touches the
//!   socket; the [`SocketRef`] it returns uncounts it when dropped.
//! - [`SocketRef::retire`] (ws_free) marks the slot dead: later acquires
//!   fail. The socket itself is dropped, and the slot reused under the next
//!   generation, when the last call in progress returns.
//!
//! The table never shrinks: slots live in chunks that are never freed (the
//! first one in static memory), so a stale handle always reads valid memory,
//! and its generation makes it fail even after its slot was reused (until
//! the generation wraps: 2^32 reuses of one slot on 64-bit targets, 2^12 on
//! 32-bit ones).
//!
//! Each call costs one compare-and-swap and one atomic subtraction on the
//! slot's own cache line (the same as cloning and dropping an `Arc`).

use crate::socket::Socket;
use std::cell::{RefCell, UnsafeCell};
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Once, PoisonError};

/// A handle's low bits are the slot index + 1 (so 0 is never a handle); its
/// high bits are the slot's generation.
const INDEX_BITS: u32 = if usize::BITS >= 64 { 32 } else { 20 };
const INDEX_MASK: usize = (1 << INDEX_BITS) - 1;
const GEN_MASK: u64 = (1 << (usize::BITS - INDEX_BITS)) - 1;

/// Slot state: the generation in bits 0..32, then these flags, then the
/// number of calls in progress.
const LIVE: u64 = 1 << 32;
/// Retired in a child process (an inherited socket): never dropped nor
/// reused there, since dropping it would touch the parent's runtime.
const KEEP: u64 = 1 << 33;
const CALLS_SHIFT: u32 = 34;
const CALL: u64 = 1 << CALLS_SHIFT;

/// Chunk 0 holds `FIRST` slots; chunk k holds `FIRST << k`.
const FIRST: usize = 64;
const CHUNKS: usize = 26;
/// Slots the chunks hold, capped by what a handle can name.
const MAX_SLOTS: u64 = {
    let held = FIRST as u64 * ((1 << CHUNKS) - 1);
    if held < INDEX_MASK as u64 {
        held
    } else {
        INDEX_MASK as u64
    }
};
const NO_SLOT: u32 = u32::MAX;

#[repr(align(64))] // one slot per cache line: calls on different sockets do not contend
struct Slot {
    state: AtomicU64,
    /// Written only while no call is counted and the slot is not live.
    socket: UnsafeCell<Option<Arc<Socket>>>,
    /// The next free slot (under the `FREE` lock).
    next_free: AtomicU32,
}

// SAFETY: `socket` is written only by the one thread that owns the slot
// (reserved and not yet live, or reclaimed by the last call), and read only
// by calls counted in `state`, which orders both.
unsafe impl Sync for Slot {}

impl Slot {
    const fn new() -> Slot {
        Slot { state: AtomicU64::new(0), socket: UnsafeCell::new(None), next_free: AtomicU32::new(NO_SLOT) }
    }
}

#[allow(clippy::declare_interior_mutable_const)] // only used to initialize `CHUNK0`
const EMPTY_SLOT: Slot = Slot::new();
static CHUNK0: [Slot; FIRST] = [EMPTY_SLOT; FIRST];
/// Chunks 1.. (chunk 0 is `CHUNK0`), allocated when first needed, never freed.
static CHUNK_PTRS: [AtomicPtr<Slot>; CHUNKS] = [const { AtomicPtr::new(std::ptr::null_mut()) }; CHUNKS];

struct FreeList {
    /// The most recently freed slot, or `NO_SLOT`.
    head: u32,
    /// Slots handed out at least once: `0..used`.
    used: u64,
}

static FREE: Mutex<FreeList> = Mutex::new(FreeList { head: NO_SLOT, used: 0 });

fn lock_free_list() -> MutexGuard<'static, FreeList> {
    FREE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Chunk number and offset of slot `index`.
fn chunk_of(index: usize) -> (usize, usize) {
    let j = index / FIRST + 1;
    let k = (usize::BITS - 1 - j.leading_zeros()) as usize;
    (k, index - FIRST * ((1 << k) - 1))
}

fn slot(index: usize) -> Option<&'static Slot> {
    if index < FIRST {
        return Some(&CHUNK0[index]);
    }
    if index as u64 >= MAX_SLOTS {
        return None;
    }
    let (k, offset) = chunk_of(index);
    let chunk = CHUNK_PTRS[k].load(Ordering::Acquire);
    if chunk.is_null() {
        return None;
    }
    // SAFETY: chunk k holds FIRST << k slots and is never freed.
    Some(unsafe { &*chunk.add(offset) })
}

/// Slot `index`, allocating its chunk if needed (under the `FREE` lock).
fn slot_or_allocate(index: usize, _free: &mut FreeList) -> &'static Slot {
    if let Some(s) = slot(index) {
        return s;
    }
    let (k, _) = chunk_of(index);
    let chunk: Box<[Slot]> = (0..FIRST << k).map(|_| Slot::new()).collect();
    CHUNK_PTRS[k].store(Box::into_raw(chunk).cast::<Slot>(), Ordering::Release);
    slot(index).expect("the chunk was just allocated")
}

/// Why a handle names no socket.
pub(crate) enum Missing {
    Null,
    /// Freed, or never a socket.
    Unknown,
}

/// A call in progress on a live socket (counted in its slot).
pub(crate) struct SocketRef {
    slot: &'static Slot,
    index: usize,
}

/// Counts a call on the socket `handle` names, if it is live.
pub(crate) fn acquire(handle: usize) -> Result<SocketRef, Missing> {
    if handle == 0 {
        return Err(Missing::Null);
    }
    let index = (handle & INDEX_MASK).wrapping_sub(1);
    let generation = (handle >> INDEX_BITS) as u64;
    let Some(slot) = slot(index) else { return Err(Missing::Unknown) };
    let mut s = slot.state.load(Ordering::Acquire);
    loop {
        if s & LIVE == 0 || s & GEN_MASK != generation {
            return Err(Missing::Unknown);
        }
        assert!(s >> CALLS_SHIFT < (u64::MAX >> CALLS_SHIFT), "too many calls in progress on one socket");
        match slot.state.compare_exchange_weak(s, s + CALL, Ordering::Acquire, Ordering::Acquire) {
            Ok(_) => return Ok(SocketRef { slot, index }),
            Err(now) => s = now,
        }
    }
}

impl std::ops::Deref for SocketRef {
    type Target = Socket;

    fn deref(&self) -> &Socket {
        // SAFETY: a counted call keeps the slot's socket in place.
        unsafe { (*self.slot.socket.get()).as_deref().expect("a live slot holds its socket") }
    }
}

impl SocketRef {
    /// Marks the socket freed: no later acquire succeeds. The socket is
    /// dropped when the last call in progress returns, unless `keep` (an
    /// inherited socket in a child process: kept as it is, forever). False
    /// when another call retired it first.
    pub(crate) fn retire(&self, keep: bool) -> bool {
        let keep = if keep { KEEP } else { 0 };
        let prev = self.slot.state.fetch_and(!LIVE, Ordering::AcqRel);
        if prev & LIVE != 0 && keep != 0 {
            // This call is still counted, so nobody reclaims the slot before
            // the flag is set.
            self.slot.state.fetch_or(keep, Ordering::AcqRel);
        }
        prev & LIVE != 0
    }
}

impl Drop for SocketRef {
    fn drop(&mut self) {
        let prev = self.slot.state.fetch_sub(CALL, Ordering::AcqRel);
        if prev >> CALLS_SHIFT == 1 && prev & (LIVE | KEEP) == 0 {
            reclaim(self.slot, self.index);
        }
    }
}

/// The last call on a retired socket returned: drop the socket, reuse the
/// slot under the next generation.
fn reclaim(slot: &'static Slot, index: usize) {
    // SAFETY: not live and no call counted: no other thread reads the slot.
    let socket = unsafe { (*slot.socket.get()).take() };
    let generation = slot.state.load(Ordering::Acquire) & GEN_MASK;
    slot.state.store((generation + 1) & GEN_MASK, Ordering::Release);
    {
        let mut free = lock_free_list();
        slot.next_free.store(free.head, Ordering::Relaxed);
        free.head = index as u32;
    }
    drop(socket);
}

/// A slot set aside for a socket being created; back on the free list if
/// dropped before [`Reserved::publish`].
pub(crate) struct Reserved {
    slot: &'static Slot,
    index: usize,
    handle: usize,
}

/// Sets aside a free slot. `None` when every handle is in use.
pub(crate) fn reserve() -> Option<Reserved> {
    FORK_HANDLERS.call_once(register_fork_handlers);
    let mut free = lock_free_list();
    let index = if free.head != NO_SLOT {
        let index = free.head as usize;
        free.head = slot(index).expect("a freed slot exists").next_free.load(Ordering::Relaxed);
        index
    } else if free.used < MAX_SLOTS {
        free.used += 1;
        (free.used - 1) as usize
    } else {
        return None;
    };
    let slot = slot_or_allocate(index, &mut free);
    let generation = slot.state.load(Ordering::Acquire) & GEN_MASK;
    let handle = ((generation as usize) << INDEX_BITS) | (index + 1);
    Some(Reserved { slot, index, handle })
}

impl Reserved {
    /// The handle the socket will have.
    pub(crate) fn handle(&self) -> usize {
        self.handle
    }

    /// Makes the socket live: its handle works from now on.
    pub(crate) fn publish(self, socket: Arc<Socket>) -> usize {
        // SAFETY: reserved and not live: this thread owns the slot.
        unsafe { *self.slot.socket.get() = Some(socket) };
        let generation = self.slot.state.load(Ordering::Relaxed) & GEN_MASK;
        self.slot.state.store(generation | LIVE, Ordering::Release);
        let handle = self.handle;
        std::mem::forget(self);
        handle
    }
}

impl Drop for Reserved {
    fn drop(&mut self) {
        let mut free = lock_free_list();
        self.slot.next_free.store(free.head, Ordering::Relaxed);
        free.head = self.index as u32;
    }
}

// fork(): the free list's lock is taken before the process forks and
// released on both sides after, so that a child never inherits it locked
// by a thread that does not exist there.

static FORK_HANDLERS: Once = Once::new();

thread_local! {
    static HELD_FOR_FORK: RefCell<Option<MutexGuard<'static, FreeList>>> = const { RefCell::new(None) };
}

extern "C" fn before_fork() {
    let guard = lock_free_list();
    let _ = HELD_FOR_FORK.try_with(|h| *h.borrow_mut() = Some(guard));
}

extern "C" fn after_fork() {
    let _ = HELD_FOR_FORK.try_with(|h| drop(h.borrow_mut().take()));
}

fn register_fork_handlers() {
    // SAFETY: the handlers are plain functions of this library; the
    // registration is undone when a shared library is unloaded (glibc ties
    // it to the library's __dso_handle).
    #[cfg(unix)]
    unsafe {
        libc::pthread_atfork(Some(before_fork), Some(after_fork), Some(after_fork));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_tile_the_index_space() {
        assert_eq!(chunk_of(0), (0, 0));
        assert_eq!(chunk_of(63), (0, 63));
        assert_eq!(chunk_of(64), (1, 0));
        assert_eq!(chunk_of(191), (1, 127));
        assert_eq!(chunk_of(192), (2, 0));
        let last = (MAX_SLOTS - 1) as usize;
        let (k, offset) = chunk_of(last);
        assert!(k < CHUNKS && offset < FIRST << k);
    }

    #[test]
    fn handles_that_name_nothing_are_refused() {
        assert!(matches!(acquire(0), Err(Missing::Null)));
        for h in [1usize, 2, 64, 65, 1 << INDEX_BITS, usize::MAX, INDEX_MASK, 0xdead_beef] {
            assert!(matches!(acquire(h), Err(Missing::Unknown)), "{h:#x}");
        }
    }
}
