// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! ASC coprocessor control: the register that starts the GPU firmware CPU.
//!
//! The firmware image is already resident (placed by iBoot), so setting `CPU_CONTROL.RUN`
//! (`asc + 0x44`, bit 4) is the only start action. The Asahi driver read-modify-writes that bit
//! once at probe and never clears it (jannau/linux:drivers/gpu/drm/asahi/regs.rs `start_cpu`;
//! agx-firmware-behaviour.md §2). m1n1 also reads `CPU_STATUS` (`asc + 0x48`), whose bit 1 means
//! "stopped" in both m1n1 (`R_CPU_STATUS`) and AsahiLinux/docs asc.md; the other status bits
//! disagree between those sources and the model leaves them clear.
//!
//! Stopping a started CPU is refused: the firmware cannot be restarted without a full reset,
//! which no driver path does.

use crate::layout::Region;
use crate::strict::{Checked, Violation};

/// `CPU_CONTROL` offset.
pub const CPU_CONTROL: u64 = 0x44;
/// `CPU_STATUS` offset.
pub const CPU_STATUS: u64 = 0x48;
/// `CPU_CONTROL.RUN`.
pub const CPU_CONTROL_RUN: u32 = 1 << 4;
/// `CPU_STATUS.STOPPED`.
pub const CPU_STATUS_STOPPED: u32 = 1 << 1;

/// What a control write did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AscEvent {
    /// Nothing changed state.
    None,
    /// RUN went from 0 to 1: the firmware starts executing.
    CpuStarted,
}

/// ASC control register state.
#[derive(Debug, Default)]
pub struct Asc {
    control: u32,
}

impl Asc {
    /// Reset state: CPU stopped.
    pub fn new() -> Self {
        Self::default()
    }

    /// State after an earlier driver instance started the CPU: it runs (and cannot be
    /// stopped) although this boot of the kernel never set RUN.
    pub fn started_earlier() -> Self {
        Self {
            control: CPU_CONTROL_RUN,
        }
    }

    /// Whether the firmware CPU runs.
    pub fn running(&self) -> bool {
        self.control & CPU_CONTROL_RUN != 0
    }

    fn width(offset: u64, size: u32, write: bool) -> Checked<()> {
        if size == 4 {
            Ok(())
        } else {
            Err(Violation::Width {
                region: Region::Asc,
                offset,
                size,
                write,
                expected: 4,
            })
        }
    }

    /// Host read.
    pub fn read(&self, offset: u64, size: u32) -> Checked<u64> {
        match offset {
            CPU_CONTROL => {
                Self::width(offset, size, false)?;
                Ok(self.control.into())
            }
            CPU_STATUS => {
                Self::width(offset, size, false)?;
                Ok(if self.running() {
                    0
                } else {
                    CPU_STATUS_STOPPED.into()
                })
            }
            _ => Err(Violation::Unknown {
                region: Region::Asc,
                offset,
                write: false,
            }),
        }
    }

    /// Host write.
    pub fn write(&mut self, offset: u64, size: u32, value: u64) -> Checked<AscEvent> {
        match offset {
            CPU_CONTROL => {
                Self::width(offset, size, true)?;
                let new = value as u32;
                let was = self.running();
                if was && new & CPU_CONTROL_RUN == 0 {
                    return Err(Violation::Asc(
                        "CPU_CONTROL.RUN cleared after start: the firmware cannot be stopped \
                         and restarted"
                            .into(),
                    ));
                }
                self.control = new;
                Ok(if !was && self.running() {
                    AscEvent::CpuStarted
                } else {
                    AscEvent::None
                })
            }
            CPU_STATUS => Err(Violation::Direction {
                region: Region::Asc,
                offset,
                what: "write to read-only CPU_STATUS",
            }),
            _ => Err(Violation::Unknown {
                region: Region::Asc,
                offset,
                write: true,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_bit_starts_the_cpu_once() {
        let mut asc = Asc::new();
        assert!(!asc.running());
        assert_eq!(
            asc.read(CPU_STATUS, 4).unwrap(),
            u64::from(CPU_STATUS_STOPPED)
        );
        // Read-modify-write as the driver does it.
        let v = asc.read(CPU_CONTROL, 4).unwrap();
        assert_eq!(
            asc.write(CPU_CONTROL, 4, v | u64::from(CPU_CONTROL_RUN))
                .unwrap(),
            AscEvent::CpuStarted
        );
        assert!(asc.running());
        assert_eq!(asc.read(CPU_STATUS, 4).unwrap(), 0);
        assert_eq!(
            asc.write(CPU_CONTROL, 4, u64::from(CPU_CONTROL_RUN))
                .unwrap(),
            AscEvent::None
        );
    }

    #[test]
    fn a_cpu_started_earlier_reads_as_running_and_does_not_start_again() {
        let mut asc = Asc::started_earlier();
        assert!(asc.running());
        let v = asc.read(CPU_CONTROL, 4).unwrap();
        assert_eq!(v & u64::from(CPU_CONTROL_RUN), u64::from(CPU_CONTROL_RUN));
        assert_eq!(asc.write(CPU_CONTROL, 4, v).unwrap(), AscEvent::None);
    }

    #[test]
    fn strict_rejections() {
        let mut asc = Asc::new();
        asc.write(CPU_CONTROL, 4, u64::from(CPU_CONTROL_RUN))
            .unwrap();
        assert!(matches!(
            asc.write(CPU_CONTROL, 4, 0),
            Err(Violation::Asc(_))
        ));
        assert!(asc.running());
        assert!(matches!(
            asc.write(CPU_CONTROL, 8, 0x10),
            Err(Violation::Width { .. })
        ));
        assert!(matches!(asc.read(0x100, 4), Err(Violation::Unknown { .. })));
        assert!(matches!(
            asc.write(CPU_STATUS, 4, 0),
            Err(Violation::Direction { .. })
        ));
    }
}
