//! One rule for a poisoned lock, written once.
//!
//! A mutex is poisoned when a thread panicked while holding it. pvm6's
//! locks guard plain tables (buffers, queues, registrations) whose every
//! update is complete before the guard drops, so the data stays usable:
//! the next holder takes it as it is rather than failing every later PVM
//! call. Use [`Locked::locked`] instead of `lock().unwrap()`.

use std::sync::{Mutex, MutexGuard};

/// `lock()` that takes over a poisoned mutex's data (see the module docs).
pub trait Locked<T: ?Sized> {
    /// The guard, poisoned or not.
    fn locked(&self) -> MutexGuard<'_, T>;
}

impl<T: ?Sized> Locked<T> for Mutex<T> {
    fn locked(&self) -> MutexGuard<'_, T> {
        self.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::Locked;
    use std::sync::{Arc, Mutex};

    #[test]
    fn a_poisoned_lock_still_yields_its_data() {
        let m = Arc::new(Mutex::new(41));
        let m2 = Arc::clone(&m);
        let _ = std::thread::spawn(move || {
            let mut g = m2.lock().unwrap();
            *g += 1;
            panic!("poison it");
        })
        .join();
        assert!(m.is_poisoned());
        assert_eq!(*m.locked(), 42);
    }
}
