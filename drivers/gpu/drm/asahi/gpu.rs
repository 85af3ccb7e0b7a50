// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! The GPU as one object: its MMU, its booted coprocessor and the register windows they need.
//!
//! [`GpuManager`] is what probe hands a checked device description to and what the device
//! keeps while bound; everything that talks to the running firmware (channels, events, the
//! crash state, from the firmware bring-up on) hangs off it, so probe itself stays a
//! sequence of checks (shared/ARCHITECTURE.md, "Driver layout").
//!
//! Field order is teardown order: RTKit lets go of the buffers it handed out before the UAT
//! goes, and the UAT itself leaks whatever the started coprocessor may still reach
//! (shared/ARCHITECTURE.md, "Firmware lifetime").

pub(crate) mod boot;

use kernel::{
    device::{
        Bound,
        Device, //
    },
    io::mem::IoMem,
    prelude::*,
    sync::Arc, //
};

use crate::{
    dt::Regions,
    fw::version::FwAbi,
    hw::HwConfig,
    region_mem::{
        RegionMem,
        RootTable, //
    },
    regs::{
        ASC_CTL_SIZE,
        SGX_SIZE, //
    },
    uat::{
        context::{
            Uat,
            UatConfig, //
        },
        handoff::{
            self,
            Handoff, //
        },
        pgtable::KernelTables,
        tlb::GpuTlb,
        ttbat::{
            self,
            Ttbat, //
        },
    },
};

use self::boot::{
    Firmware,
    KernelUat, //
};

/// A GPU whose coprocessor runs, with the state every later request goes through.
pub(crate) struct GpuManager<'bound> {
    /// The running firmware (dropped first: RTKit lets go of its buffers).
    _firmware: Firmware<'bound>,
    /// The GPU MMU and its shared regions.
    uat: Arc<KernelUat<'bound>>,
    /// ASC coprocessor control registers.
    _asc: IoMem<'bound, ASC_CTL_SIZE>,
    /// GPU registers.
    _sgx: IoMem<'bound, SGX_SIZE>,
    /// The SoC's static description.
    hw: &'static HwConfig,
    /// The firmware ABI the bootloader named.
    abi: FwAbi,
}

impl<'bound> GpuManager<'bound> {
    /// Takes over the GPU: sets up its MMU over the bootloader's regions, then releases the
    /// coprocessor and boots RTKit until the GPU endpoints run.
    ///
    /// # Errors
    ///
    /// [`EBUSY`] when the coprocessor already runs (it cannot be taken over), the errors of
    /// mapping the regions and of setting up the UAT, [`EPROBE_DEFER`] while the mailbox is
    /// missing, and those of [`boot::start_coprocessor`] and [`boot::boot_rtkit`].
    pub(crate) fn new(
        dev: &'bound Device<Bound>,
        hw: &'static HwConfig,
        abi: FwAbi,
        regions: &Regions,
        asc: IoMem<'bound, ASC_CTL_SIZE>,
        sgx: IoMem<'bound, SGX_SIZE>,
    ) -> Result<Self> {
        boot::check_not_started(dev, &asc)?;
        let handoff = Handoff::init(
            RegionMem::new(regions.handoff.map_wb(dev)?, handoff::SIZE)?,
            handoff::DEFAULT_SPIN_LIMIT,
        );
        let uat = Uat::new(
            KernelTables,
            RootTable::new(regions.pagetables.map_wb(dev)?, regions.pagetables.start())?,
            handoff,
            Ttbat::new(RegionMem::new(regions.ttbs.map_wb(dev)?, ttbat::SIZE)?),
            GpuTlb,
            UatConfig {
                oas: hw.uat_oas,
                user_sees_kernel: hw.is_g14x(),
                robust_isolation: false,
            },
        )
        .inspect_err(|e| dev_err!(dev, "cannot set up the GPU MMU: {:?}\n", e))?;
        let rtkit = boot::new_rtkit(dev, &uat)?;
        let t0 = boot::start_coprocessor(dev, &asc, &uat)?;
        let firmware = boot::boot_rtkit(dev, rtkit, t0)?;
        Ok(Self {
            _firmware: firmware,
            uat,
            _asc: asc,
            _sgx: sgx,
            hw,
            abi,
        })
    }

    /// The GPU MMU (kernel context and user VMs).
    #[cfg_attr(not(CONFIG_DRM_ASAHI_SELFTEST), allow(dead_code))]
    pub(crate) fn uat(&self) -> &Arc<KernelUat<'bound>> {
        &self.uat
    }

    /// The SoC this GPU belongs to.
    #[allow(dead_code)] // The firmware bring-up and GET_PARAMS read it.
    pub(crate) fn hw(&self) -> &'static HwConfig {
        self.hw
    }

    /// The firmware ABI in use.
    #[allow(dead_code)] // The firmware bring-up picks its structures by it.
    pub(crate) fn abi(&self) -> FwAbi {
        self.abi
    }
}
