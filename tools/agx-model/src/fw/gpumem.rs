// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! The firmware's typed access to kernel objects: every byte goes through the UAT (context 0),
//! page by page, because an object may straddle 16 KiB pages that map to unrelated physical
//! pages. Also the pointer check the firmware's INIT applies to every pointer it is given.

use zerocopy::FromBytes;

use super::generated::common::PtrClass;
use super::heaps::{self, Heap};
use super::violation::InitDataViolation;
use crate::dma::Dma;
use crate::strict::{Checked, Violation};
use crate::uat::PAGE_SIZE;

/// What the firmware code needs of the device.
pub trait FwBus {
    /// Translates a context-0 firmware access. `Ok(None)` when it faults (traced, not
    /// refused: the caller turns it into the violation that names the rule).
    fn fw_try_translate(&mut self, va: u64, write: bool) -> Checked<Option<u64>>;
    /// Physical memory.
    fn fw_dma(&self) -> &Dma;
    /// Records a trace line.
    fn fw_trace(&mut self, line: String);
    /// Sends a message from the firmware to the host on endpoint `ep`.
    fn fw_send(&mut self, ep: u8, msg0: u64);
    /// Microseconds since the model started (for firmware timestamps).
    fn fw_now_us(&self) -> u64;
    /// The firmware panics with the line `panic`: RTKit writes the crash log into the
    /// host-granted crash-log buffer and reports the crash on endpoint 1; from then on the
    /// coprocessor serves nothing.
    fn fw_crash(&mut self, panic: &str) -> Checked<()>;
    /// Physical address of the UAT handoff region (flush slots), if the bootloader gave one.
    fn fw_handoff(&self) -> Option<u64>;
}

/// The pieces of [va, va+len) that lie in one 16 KiB page each: (va, offset in the buffer,
/// length).
fn pages(va: u64, len: usize) -> impl Iterator<Item = (u64, usize, usize)> {
    let mut done = 0usize;
    std::iter::from_fn(move || {
        if done >= len {
            return None;
        }
        let at = va.wrapping_add(done as u64);
        let room = (PAGE_SIZE - (at & (PAGE_SIZE - 1))) as usize;
        let n = room.min(len - done);
        let piece = (at, done, n);
        done += n;
        Some(piece)
    })
}

fn fault(what: &str, va: u64, write: bool) -> Violation {
    let dir = if write { "write" } else { "read" };
    Violation::Uat(format!("firmware {dir} of {what} at va=0x{va:x} faults"))
}

/// Reads `buf.len()` bytes at `va`.
pub fn read(bus: &mut dyn FwBus, va: u64, buf: &mut [u8], what: &str) -> Checked<()> {
    for (at, off, n) in pages(va, buf.len()) {
        let pa = bus
            .fw_try_translate(at, false)?
            .ok_or_else(|| fault(what, at, false))?;
        bus.fw_dma().read(pa, &mut buf[off..off + n])?;
    }
    Ok(())
}

/// Writes `data` at `va`.
pub fn write(bus: &mut dyn FwBus, va: u64, data: &[u8], what: &str) -> Checked<()> {
    for (at, off, n) in pages(va, data.len()) {
        let pa = bus
            .fw_try_translate(at, true)?
            .ok_or_else(|| fault(what, at, true))?;
        bus.fw_dma().write(pa, &data[off..off + n])?;
    }
    Ok(())
}

/// Reads a `T` at `va`.
pub fn read_obj<T: FromBytes>(bus: &mut dyn FwBus, va: u64, what: &str) -> Checked<T> {
    let mut buf = vec![0u8; std::mem::size_of::<T>()];
    read(bus, va, &mut buf, what)?;
    Ok(T::read_from_bytes(&buf).expect("buffer has the type's size"))
}

/// Reads a little-endian u32 at `va`.
pub fn read_u32(bus: &mut dyn FwBus, va: u64, what: &str) -> Checked<u32> {
    let mut b = [0u8; 4];
    read(bus, va, &mut b, what)?;
    Ok(u32::from_le_bytes(b))
}

/// Writes a little-endian u32 at `va`.
pub fn write_u32(bus: &mut dyn FwBus, va: u64, v: u32, what: &str) -> Checked<()> {
    write(bus, va, &v.to_le_bytes(), what)
}

/// A pointer the firmware is about to use, as INIT checks it.
#[derive(Clone, Copy, Debug)]
pub struct Target<'a> {
    /// Field path for reports.
    pub field: &'a str,
    /// The pointer.
    pub va: u64,
    /// Bytes the firmware uses from there.
    pub size: u64,
    /// Alignment the target's type needs.
    pub align: u64,
    /// Where it must live.
    pub class: PtrClass,
}

/// Checks one pointer: non-null, aligned, the whole target inside one heap its class allows,
/// every page readable by the firmware and, for targets it writes, writable.
pub fn check_target(bus: &mut dyn FwBus, t: Target<'_>) -> Checked<()> {
    let field = || t.field.to_string();
    let refuse = |v: InitDataViolation| Err(Violation::InitData(v));
    if t.va == 0 {
        return refuse(InitDataViolation::NullPointer { field: field() });
    }
    if t.align > 1 && t.va % t.align != 0 {
        return refuse(InitDataViolation::Misaligned {
            field: field(),
            va: t.va,
            align: t.align,
        });
    }
    let last = t.va.checked_add(t.size.max(1) - 1);
    let start_heap = Heap::of(t.va);
    let end_heap = last.and_then(Heap::of);
    let ok = match (start_heap, end_heap) {
        (Some(a), Some(b)) => a == b && heaps::accepts(t.class, a),
        _ => false,
    };
    if !ok {
        let found = match (start_heap, end_heap) {
            (Some(a), Some(b)) if a == b => a.name(),
            (Some(_), _) => "a range that leaves its heap",
            _ => "no kernel heap",
        };
        return refuse(InitDataViolation::WrongHeap {
            field: field(),
            va: t.va,
            size: t.size,
            class: t.class,
            found,
            allowed: heaps::allowed(t.class),
        });
    }
    let len = usize::try_from(t.size.max(1)).expect("targets are small");
    for (at, _, _) in pages(t.va, len) {
        if bus.fw_try_translate(at, false)?.is_none() {
            return refuse(InitDataViolation::Unmapped {
                field: field(),
                va: t.va,
                at,
            });
        }
        if heaps::written(t.class) && bus.fw_try_translate(at, true)?.is_none() {
            return refuse(InitDataViolation::NotWritable {
                field: field(),
                va: t.va,
                at,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_split_at_page_boundaries() {
        let v: Vec<_> = pages(0x3ff0, 0x20).collect();
        assert_eq!(v, vec![(0x3ff0, 0, 0x10), (0x4000, 0x10, 0x10)]);
        assert_eq!(pages(0x4000, 0x8000).count(), 2);
        assert_eq!(pages(0, 0).count(), 0);
    }
}
