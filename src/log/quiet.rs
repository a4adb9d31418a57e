//! Calls into dependencies that may panic on bad data (sled does, on some damaged files), caught
//! and turned into a sentence, without the panic's text and backtrace reaching the terminal.
//!
//! `catch_unwind` alone stops the unwinding but not the panic hook, which prints the message and
//! a backtrace before anything is caught. So the first guarded call installs a hook that stays
//! silent while the panicking thread is inside [`catching`] and hands every other panic to the
//! hook that was there before (a real bug elsewhere still shows).

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    /// How many guarded calls this thread is inside.
    static GUARDED: Cell<u32> = const { Cell::new(0) };
}

static INSTALL: Once = Once::new();

fn install() {
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if GUARDED.with(Cell::get) == 0 {
                previous(info);
            }
        }));
    });
}

/// Runs `call`; a panic inside it becomes `Err` with the panic's message, and prints nothing.
pub(crate) fn catching<T>(call: impl FnOnce() -> T) -> Result<T, String> {
    install();
    GUARDED.with(|guarded| guarded.set(guarded.get() + 1));
    let result = catch_unwind(AssertUnwindSafe(call));
    GUARDED.with(|guarded| guarded.set(guarded.get().saturating_sub(1)));
    result.map_err(|panic| {
        panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "a panic without a message".to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_its_message() {
        let caught = catching(|| -> u8 { panic!("bad bytes at offset 7") });
        assert_eq!(caught, Err("bad bytes at offset 7".to_owned()));
        assert_eq!(catching(|| 5), Ok(5));
        // The guard is released after a panic, so later panics elsewhere are not hidden.
        assert_eq!(GUARDED.with(Cell::get), 0);
    }
}
