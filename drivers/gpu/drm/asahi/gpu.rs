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
pub(crate) mod crash;
pub(crate) mod fw_cache;
pub(crate) mod init;
pub(crate) mod initdata;

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
    debugfs::{
        self,
        GpuDebug,
        GpuDebugFs, //
    },
    dt::Regions,
    event::EventManager,
    fw::version::FwAbi,
    hw::HwConfig,
    mem::KernelHeaps,
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
            MachineUat,
            Uat,
            UatConfig, //
        },
        handoff::{
            self,
            Handoff, //
        },
        heap::KernelBacking,
        pgtable::KernelTables,
        tlb::GpuTlb,
        ttbat::{
            self,
            Ttbat, //
        },
    },
};

use self::{
    boot::{
        Firmware,
        KernelUat, //
    },
    crash::FwHealth,
    fw_cache::FwCache,
    init::Prepared,
    initdata::Calibration,
};

/// Backing of the kernel heaps: blocks mapped through the machine's UAT.
pub(crate) type KernelHeapBacking = KernelBacking<MachineUat<RootTable, RegionMem>>;

/// A GPU whose coprocessor runs, with the state every later request goes through.
pub(crate) struct GpuManager<'bound> {
    /// debugfs files (removed first: they only read recorded views, but go before what
    /// records them).
    _debugfs: Pin<KBox<GpuDebugFs>>,
    /// The running firmware (dropped first: RTKit lets go of its buffers).
    firmware: Firmware<'bound>,
    /// Coprocessor-cache flushes (the firmware-control ring).
    fw_cache: Pin<KBox<FwCache>>,
    /// Channels and InitData, which the firmware uses for as long as it runs.
    _fw_state: KBox<Prepared<KernelHeapBacking>>,
    /// Event slots and stamps.
    _events: Arc<EventManager<KernelHeapBacking>>,
    /// The kernel heaps every firmware object lives in.
    heaps: KernelHeaps<KernelHeapBacking>,
    /// Whether the firmware crashed.
    health: Arc<FwHealth>,
    /// The GPU MMU and its shared regions.
    uat: Arc<KernelUat>,
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
    ) -> Result<KBox<Self>> {
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
        let heaps = KernelHeaps::new(|| KernelBacking::new(uat.clone()))?;
        let events = EventManager::new(&heaps)?;
        let mut fw_state = {
            let hw_cal_a = regions.hw_cal_a.map_wb(dev)?;
            let hw_cal_b = regions.hw_cal_b.map_wb(dev)?;
            let globals = regions.globals.map_wb(dev)?;
            let cal = Calibration {
                hw_cal_a: &hw_cal_a,
                hw_cal_b: &hw_cal_b,
                globals: &globals,
            };
            init::prepare(abi, &heaps, &events, &cal, hw.uat_oas)
                .inspect_err(|e| dev_err!(dev, "cannot build the firmware's InitData: {:?}\n", e))?
        };
        let debug = GpuDebug::watch(&mut fw_state.channels, &heaps, &events)?;
        let fw_log = fw_state.channels.fw_log.take().ok_or(EINVAL)?;
        let event_ring = fw_state.channels.event.take().ok_or(EINVAL)?;
        let fw_cache = KBox::pin_init(
            FwCache::new(fw_state.channels.fw_ctl.take().ok_or(EINVAL)?),
            GFP_KERNEL,
        )?;
        let health = Arc::new(FwHealth::new(), GFP_KERNEL)?;
        let stats = fw_state.channels.stats.take().ok_or(EINVAL)?;
        let rtkit = boot::new_rtkit(dev, &uat, fw_log, event_ring, stats, health.clone())?;
        let t0 = boot::start_coprocessor(dev, &asc, &uat)?;
        let firmware = boot::boot_rtkit(dev, rtkit, health.clone(), t0)?;
        let took = init::start(dev, &firmware, &mut fw_state, t0)?;
        dev_info!(
            dev,
            "GPU firmware ready in {} ms ({} channels, InitData of {} objects)\n",
            took.as_millis(),
            crate::channel::CHANNEL_COUNT,
            fw_state.initdata.objects().len()
        );
        let debugfs = KBox::pin_init(debugfs::create(debug), GFP_KERNEL)?;
        // On the heap: probe runs deep in the driver core on a kernel stack of 16 KiB.
        Ok(KBox::new(
            Self {
                _debugfs: debugfs,
                firmware,
                fw_cache,
                _fw_state: fw_state,
                _events: events,
                heaps,
                health,
                uat,
                _asc: asc,
                _sgx: sgx,
                hw,
                abi,
            },
            GFP_KERNEL,
        )?)
    }

    /// The GPU MMU (kernel context and user VMs).
    pub(crate) fn uat(&self) -> &Arc<KernelUat> {
        &self.uat
    }

    /// The kernel heaps.
    pub(crate) fn heaps(&self) -> &KernelHeaps<KernelHeapBacking> {
        &self.heaps
    }

    /// Makes the memory freed in the firmware-cached heaps (private, GPU read-only) reusable:
    /// flushes it from the coprocessor's cache, then returns it to its heap. Returns the
    /// bytes made reusable.
    ///
    /// # Errors
    ///
    /// Those of [`FwCache::collect_garbage`]: the memory then stays parked.
    #[cfg_attr(not(CONFIG_DRM_ASAHI_SELFTEST), allow(dead_code))] // Job completion calls it.
    pub(crate) fn collect_garbage(&self, dev: &Device<Bound>) -> Result<u64> {
        self.fw_cache.collect_garbage(
            dev,
            &self.firmware,
            &self.uat,
            &[&self.heaps.private, &self.heaps.gpu_ro],
        )
    }

    /// Fails requests to a GPU whose firmware crashed.
    ///
    /// # Errors
    ///
    /// [`ENODEV`] once the firmware crashed.
    #[allow(dead_code)] // GET_PARAMS and SUBMIT check it.
    pub(crate) fn check_alive(&self) -> Result {
        self.health.check()
    }

    /// The firmware's health, shared with whatever outlives the binding (the DRM device).
    pub(crate) fn health(&self) -> &Arc<FwHealth> {
        &self.health
    }

    /// The SoC this GPU belongs to.
    #[allow(dead_code)] // The firmware bring-up and GET_PARAMS read it.
    pub(crate) fn hw(&self) -> &'static HwConfig {
        self.hw
    }

    /// The firmware ABI in use.
    pub(crate) fn abi(&self) -> FwAbi {
        self.abi
    }
}
