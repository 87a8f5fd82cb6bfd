//! The work one run may do, so no mapping runs without bound.
//!
//! Depth and call limits stop recursion, but a loop over a loop
//! (`range(0, 1000000).map_each(i -> range(0, 1000000))`) or a fold that copies
//! its growing tally each step needs only a few characters to ask for days of
//! work or terabytes. Each run therefore has a budget of [`MAX_WORK`] units:
//! one per element an iterating method visits, per value copied, per element
//! `range()` makes, and per 32 bytes a concatenation or `repeat()` makes. Past it
//! the run fails with [`exceeded`]'s message. The count is per thread, set to
//! zero when a run starts; runs do not nest on one thread.

use std::cell::Cell;

/// Units of work one run may do: about a second of the heaviest kind on one core,
/// far beyond what a message mapping needs (a 1,000-item `map_each` is ~2,000).
pub const MAX_WORK: u64 = 10_000_000;

/// Bytes of string or byte output that count as one unit.
const BYTES_PER_UNIT: usize = 32;

thread_local! {
    static USED: Cell<u64> = const { Cell::new(0) };
}

/// Starts a run's count.
pub fn start() {
    USED.set(0);
}

/// Counts `units` and fails once the run is over budget.
pub fn charge(units: u64) -> Result<(), String> {
    let used = USED.get().saturating_add(units);
    USED.set(used);
    if used > MAX_WORK {
        return Err(exceeded());
    }
    Ok(())
}

/// Counts `bytes` of output made, in units.
pub fn charge_bytes(bytes: usize) -> Result<(), String> {
    charge((bytes / BYTES_PER_UNIT) as u64)
}

/// Counts `bytes` of output copied where failing is not possible (see [`note`]).
pub fn note_bytes(bytes: usize) {
    note((bytes / BYTES_PER_UNIT) as u64);
}

/// Counts work that cannot fail where it happens (copying a value); the next
/// [`charge`] reports it.
pub fn note(units: u64) {
    USED.set(USED.get().saturating_add(units));
}

/// The error a run over budget ends with.
pub fn exceeded() -> String {
    format!(
        "mapping exceeded its work limit of {MAX_WORK} units for one message \
         (elements visited, copied or made, and 32-byte pieces of strings made)"
    )
}
