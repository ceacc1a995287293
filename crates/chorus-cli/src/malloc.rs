//! glibc malloc settings, made before any thread starts.
//!
//! With its defaults, glibc's malloc kept the memory a long run freed, so the peak RSS grew with
//! the size of the extract while the live heap did not (the fetch-floor benchmark: 36 MB of live
//! heap at 200k posts and 40 MB at 2M, but 70 MB and 113 MB of RSS). Two of its defaults did it:
//!
//! - The mmap threshold is dynamic: freeing a large block served by `mmap` (a Parquet row group
//!   of megabytes, encoded on a blocking thread) raises it to that block's size, up to 32 MiB,
//!   and the trim threshold to twice that. From then on such blocks come from the arenas, which
//!   keep up to the trim threshold free each and never return their fragmented middle.
//! - Each thread that allocates gets an arena of its own, up to 8 per core, and tokio's blocking
//!   threads come and go, so there are several arenas each holding freed memory.
//!
//! Fixing the threshold at glibc's initial 128 KiB (which also fixes the trim threshold, since a
//! threshold that is set is no longer adjusted) gives large blocks back to the system when they
//! are freed, and two arenas bound how many pools hold free memory. It is what
//! `MALLOC_MMAP_THRESHOLD_=131072 MALLOC_ARENA_MAX=2` in the environment did in the benchmark
//! (peak RSS 56 MB at 200k posts, 60 MB at 2M); those variables no longer change these two
//! settings, since `mallopt` runs after glibc has read them.

/// Blocks of this size and more are mapped on their own and unmapped when freed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: i32 = 128 * 1024;

/// The most malloc arenas.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const ARENA_MAX: i32 = 2;

/// Applies the settings; call it first thing in `main`, before any thread is started.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn tune() {
    // SAFETY: `mallopt` only changes malloc's parameters; it is called before any other thread
    // exists, with parameters and values glibc documents. A refused setting (0) leaves glibc's
    // default in place, which is correct, only less frugal.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        libc::mallopt(libc::M_ARENA_MAX, ARENA_MAX);
    }
}

/// Other C libraries' allocators are left as they are.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn tune() {}
