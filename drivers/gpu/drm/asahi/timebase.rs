// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! The GPU's clock as userspace sees it (GET_TIME).
//!
//! The GPU firmware stamps work with the SoC's 24 MHz system counter, the one the CPUs read
//! as `CNTPCT_EL0`; userspace is told timestamps are in nanoseconds
//! ([`crate::params::TIMESTAMP_FREQUENCY_HZ`]), so GET_TIME reads the same counter and
//! scales it the same way, and Vulkan's calibrated timestamps line up with command ones
//! (asahi-driver-facts.md §8).
//!
//! Kernels for other architectures (compile tests, UML) have no such counter; there the
//! monotonic clock since the device was registered stands in, with the same 24 MHz
//! granularity.

use kernel::{
    prelude::*,
    time::{
        Instant,
        Monotonic, //
    },
    uapi,
};

use crate::hw::BASE_CLOCK_HZ;

/// Converts system-counter ticks to nanoseconds without overflow for any `u64` tick count
/// whose result fits (about 24 000 years).
pub(crate) const fn ticks_to_ns(ticks: u64) -> u64 {
    // 1e9 / 24e6 = 125 / 3.
    const NUM: u64 = 125;
    const DEN: u64 = 3;
    const _: () = assert!(BASE_CLOCK_HZ as u64 * NUM == 1_000_000_000 * DEN);
    (ticks / DEN) * NUM + (ticks % DEN) * NUM / DEN
}

/// The counter GET_TIME reads.
pub(crate) struct Timebase {
    #[cfg_attr(CONFIG_ARM64, allow(dead_code))]
    epoch: Instant<Monotonic>,
}

impl Timebase {
    /// A time base for a device being registered now.
    pub(crate) fn new() -> Self {
        Self {
            epoch: Instant::<Monotonic>::now(),
        }
    }

    /// The current system-counter value, in ticks of [`BASE_CLOCK_HZ`].
    #[cfg(CONFIG_ARM64)]
    pub(crate) fn ticks(&self) -> u64 {
        let ticks: u64;
        // SAFETY: Linux lets EL1 read the physical counter; the ISB keeps the read from
        // being hoisted above earlier instructions, and nothing else is touched.
        unsafe {
            core::arch::asm!(
                "isb",
                "mrs {t}, cntpct_el0",
                t = out(reg) ticks,
                options(nostack, preserves_flags)
            )
        };
        ticks
    }

    /// The current system-counter value, in ticks of [`BASE_CLOCK_HZ`].
    #[cfg(not(CONFIG_ARM64))]
    pub(crate) fn ticks(&self) -> u64 {
        let ns = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(0);
        ns / 125 * 3 + ns % 125 * 3 / 125
    }

    /// Serves GET_TIME.
    ///
    /// # Errors
    ///
    /// [`EINVAL`] for any flag: none are defined.
    pub(crate) fn get_time(&self, req: &mut uapi::drm_asahi_get_time) -> Result {
        if req.flags != 0 {
            return Err(EINVAL);
        }
        req.gpu_timestamp = ticks_to_ns(self.ticks());
        Ok(())
    }
}

#[cfg(CONFIG_DRM_ASAHI_KUNIT_TEST)]
#[kernel::prelude::kunit_tests(asahi_timebase)]
mod tests {
    use super::*;

    #[test]
    fn ticks_scale_to_nanoseconds() {
        assert_eq!(ticks_to_ns(0), 0);
        assert_eq!(ticks_to_ns(3), 125);
        assert_eq!(ticks_to_ns(24_000_000), 1_000_000_000);
        // One tick is 41.67 ns: truncated, never rounded up past the next tick.
        assert_eq!(ticks_to_ns(1), 41);
        assert_eq!(ticks_to_ns(2), 83);
        // A year of uptime does not overflow.
        let year = 24_000_000u64 * 3600 * 24 * 365;
        assert_eq!(ticks_to_ns(year), 1_000_000_000 * 3600 * 24 * 365);
        assert_eq!(ticks_to_ns(u64::MAX / 125 * 3), u64::MAX / 125 * 125);
    }

    #[test]
    fn flags_are_refused_and_time_moves_forward() {
        let tb = Timebase::new();
        let mut req = uapi::drm_asahi_get_time {
            flags: 1,
            gpu_timestamp: 7,
        };
        assert_eq!(tb.get_time(&mut req), Err(EINVAL));
        assert_eq!(req.gpu_timestamp, 7);
        req.flags = 0;
        assert_eq!(tb.get_time(&mut req), Ok(()));
        let first = req.gpu_timestamp;
        kernel::time::delay::fsleep(kernel::time::Delta::from_micros(100));
        assert_eq!(tb.get_time(&mut req), Ok(()));
        assert!(req.gpu_timestamp >= first + 100_000);
    }
}
