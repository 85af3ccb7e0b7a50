// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! Read-only debugfs files: what the driver knows of the running firmware.
//!
//! Under `/sys/kernel/debug/asahi/` (one GPU per SoC, so one directory):
//!
//! - `fw_log`: the last [`crate::channel::fw_log::TAIL_LINES`] firmware log lines, oldest first, as
//!   `<seq> <level> <text>`. Debug-level lines are not printed to the kernel log by default,
//!   and the kernel log may have dropped others.
//! - `channels`: every ring with its read and write index and pending entries, as the driver
//!   last saw them (after its last push, drain or completion check).
//! - `events`: how many event slots are held and which, and how many were taken since boot.
//! - `heaps`: each kernel heap's range and its backed, free and parked bytes (parked = freed,
//!   waiting for a coprocessor-cache flush before reuse).
//!
//! Why recorded views and not the objects themselves: debugfs data must be `'static`, while
//! rings, heaps and events borrow the device's mapped regions for as long as it is bound.
//! So each of them records what the files show into a small shared block of atomics (or, for
//! the log, a copy of the lines) as it changes; the files read only those. Reading a file
//! therefore never touches GPU memory or takes a lock the firmware paths hold.

use kernel::{
    debugfs::Scope,
    fmt,
    prelude::*,
    sync::Arc, //
};

use crate::{
    channel::{fw_log::LogTail, ring::RingSeen, Channels},
    event::{
        EventManager,
        EventUsage, //
    },
    mem::KernelHeaps,
    uat::heap::{
        HeapBacking,
        HeapUsage, //
    },
};

/// One heap as the `heaps` file shows it.
struct HeapView {
    name: &'static str,
    start: u64,
    end: u64,
    usage: Arc<HeapUsage>,
}

/// Everything the files read.
pub(crate) struct GpuDebug {
    log: Arc<LogTail>,
    rings: KVec<(&'static str, Arc<RingSeen>)>,
    heaps: KVec<HeapView>,
    events: Arc<EventUsage>,
}

impl GpuDebug {
    /// Starts recording: every ring of `channels` (before any is handed to its user), every
    /// heap of `heaps`, and the slots of `events`.
    ///
    /// # Errors
    ///
    /// [`ENOMEM`].
    pub(crate) fn watch<B: HeapBacking>(
        channels: &mut Channels<B>,
        heaps: &KernelHeaps<B>,
        events: &EventManager<B>,
    ) -> Result<Self> {
        let log = LogTail::new()?;
        if let Some(fw_log) = channels.fw_log.as_mut() {
            fw_log.watch(log.clone());
        }
        let mut rings = KVec::new();
        channels.watch(|name| {
            let seen = Arc::new(RingSeen::new(), GFP_KERNEL)?;
            rings.push((name, seen.clone()), GFP_KERNEL)?;
            Ok(seen)
        })?;
        let mut views = KVec::new();
        for heap in heaps.all() {
            let usage = Arc::new(HeapUsage::new(), GFP_KERNEL)?;
            let mut h = heap.lock();
            let spec = *h.spec();
            h.watch(usage.clone());
            views.push(
                HeapView {
                    name: spec.name,
                    start: spec.start,
                    end: spec.end,
                    usage,
                },
                GFP_KERNEL,
            )?;
        }
        Ok(Self {
            log,
            rings,
            heaps: views,
            events: events.usage(),
        })
    }

    fn write_channels(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<12} {:>5} {:>5} {:>7} {:>7}",
            "ring", "read", "write", "pending", "entries"
        )?;
        for (name, seen) in &self.rings {
            let (read, write, entries) = seen.get();
            let pending = if entries == 0 {
                0
            } else {
                (write + entries - read % entries) % entries
            };
            writeln!(
                f,
                "{name:<12} {read:>5} {write:>5} {pending:>7} {entries:>7}"
            )?;
        }
        Ok(())
    }

    fn write_events(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (held, taken) = self.events.get();
        let count: u32 = held.iter().map(|w| w.count_ones()).sum();
        writeln!(f, "held {count} of {}", held.len() * 32)?;
        writeln!(f, "taken since boot {taken}")?;
        write!(f, "slots")?;
        for (word, bits) in held.iter().enumerate() {
            for bit in 0..32 {
                if bits & (1 << bit) != 0 {
                    write!(f, " {}", word * 32 + bit)?;
                }
            }
        }
        writeln!(f)
    }

    fn write_heaps(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<20} {:<37} {:>10} {:>10} {:>10}",
            "heap", "range", "backed", "free", "parked"
        )?;
        for h in &self.heaps {
            let (backed, free, parked) = h.usage.get();
            writeln!(
                f,
                "{:<20} {:#018x}-{:#018x} {backed:>10} {free:>10} {parked:>10}",
                h.name, h.start, h.end
            )?;
        }
        Ok(())
    }
}

/// The directory; dropping it removes the files.
pub(crate) type GpuDebugFs = Scope<GpuDebug>;

/// Creates `asahi/` with the files over `debug`.
pub(crate) fn create(debug: GpuDebug) -> impl PinInit<GpuDebugFs, Error> {
    Scope::dir(Ok::<GpuDebug, Error>(debug), c"asahi", |d, dir| {
        dir.read_callback_file(c"fw_log", d, &|d: &GpuDebug, f| d.log.write(f));
        dir.read_callback_file(c"channels", d, &|d: &GpuDebug, f| d.write_channels(f));
        dir.read_callback_file(c"events", d, &|d: &GpuDebug, f| d.write_events(f));
        dir.read_callback_file(c"heaps", d, &|d: &GpuDebug, f| d.write_heaps(f));
    })
}
