// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! What the model refuses: accesses and messages real hardware or firmware would not take.
//!
//! Every block returns a [`Violation`] instead of silently guessing. In strict mode (the default)
//! the backend writes a report and ends the process, so a test fails at the first wrong access
//! with the access in the report; with `--strict=false` the violation is logged and traced, and
//! the access gets the fallback stated by the block (reads return 0, writes are dropped).

use thiserror::Error as ThisError;

use crate::fw::violation::{ChannelViolation, DevCtrlViolation, FwCtlViolation, InitDataViolation};
use crate::layout::Region;

/// An access or message the model rejects.
#[derive(Debug, Clone, PartialEq, Eq, ThisError)]
pub enum Violation {
    /// Access width the register does not support.
    #[error("{region}+0x{offset:x}: {size}-byte {dir} not supported here (expected {expected}-byte)", dir = dir(*.write))]
    Width {
        /// Block.
        region: Region,
        /// Offset inside the block.
        offset: u64,
        /// Access size in bytes.
        size: u32,
        /// Write (true) or read (false).
        write: bool,
        /// The size the register takes.
        expected: u32,
    },
    /// Register the model does not know (real hardware behaviour unknown or not modelled).
    #[error("{region}+0x{offset:x}: {dir} of a register the model does not implement", dir = dir(*.write))]
    Unknown {
        /// Block.
        region: Region,
        /// Offset inside the block.
        offset: u64,
        /// Write (true) or read (false).
        write: bool,
    },
    /// Write to a read-only register or read of a write-only one.
    #[error("{region}+0x{offset:x}: {what}")]
    Direction {
        /// Block.
        region: Region,
        /// Offset inside the block.
        offset: u64,
        /// Explanation.
        what: &'static str,
    },
    /// Mailbox misuse (FIFO overflow/underflow, IOP-side registers, send protocol).
    #[error("mailbox: {0}")]
    Mailbox(String),
    /// ASC control misuse.
    #[error("asc: {0}")]
    Asc(String),
    /// RTKit protocol message the firmware would not accept in its current state.
    #[error("rtkit: {0}")]
    Rtkit(String),
    /// Firmware DMA to memory the host did not share.
    #[error("dma: {0}")]
    Dma(String),
    /// Page tables or a firmware access the GPU MMU would not take (malformed descriptor,
    /// firmware fault on kernel memory, stale TLB entry used).
    #[error("uat: {0}")]
    Uat(String),
    /// TLB invalidation or test-probe request the `tlbi` block cannot decode.
    #[error("tlbi: {0}")]
    Tlbi(String),
    /// virtio_pcidev message the platform device cannot carry.
    #[error("virtio_pcidev: {0}")]
    Transport(String),
    /// InitData or an object it points to the GPU firmware cannot use (it panics).
    #[error("GFX PANIC: initdata: {0}")]
    InitData(InitDataViolation),
    /// A channel's state the firmware cannot use.
    #[error("GFX PANIC: {0}")]
    Channel(ChannelViolation),
    /// A device-control message the firmware refuses.
    #[error("GFX PANIC: {0}")]
    DevCtrl(DevCtrlViolation),
    /// A firmware-control (cache flush) request the firmware refuses.
    #[error("GFX PANIC: {0}")]
    FwCtl(FwCtlViolation),
}

fn dir(write: bool) -> &'static str {
    if write {
        "write"
    } else {
        "read"
    }
}

/// Result of an access that may be refused.
pub type Checked<T> = std::result::Result<T, Violation>;
