// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! The simulated device as the host sees it: MMIO routed per register block, the firmware
//! reacting to what the host did, and interrupt edges to deliver.
//!
//! RTKit runs synchronously inside one MMIO access: a host write to `A2I_SEND1` commits a
//! message, the firmware (RTKit) consumes it at once and queues its answers in the I2A FIFO,
//! and the interrupt levels are compared before and after. This keeps the boot handshake
//! deterministic; nothing the host can observe depends on host thread timing.
//!
//! The GPU firmware behind endpoints 0x20/0x21 ([`crate::fw::firmware`]) only latches its
//! messages there. The work they start (INIT, ring scans) runs in [`Device::run_gpu_work`],
//! outside the MMIO access: the device signals the work event set with
//! [`Device::set_work_notifier`] and the backend runs the work from its own event loop, so a
//! firmware step can complete after the host's access has returned, as on hardware.
//!
//! What the firmware does on its own clock (the timed injected faults, [`crate::fault`]) is
//! scheduled with [`Device::schedule`]; the backend arms a timer for
//! [`Device::timer_deadline`] and calls [`Device::run_timers`] from its event loop.
//!
//! # Crashes
//!
//! A firmware panic ([`Device::crash`]) writes the RTKit crash log ([`crate::crashlog`])
//! through the UAT into the buffer the host granted endpoint 1, then sends the crash message
//! on endpoint 1. From then on the coprocessor is dead: host messages are taken from the FIFO
//! and dropped (traced `rtkit crashed: ignored ...`), nothing is answered, no work runs.
//!
//! # Interrupts
//!
//! The four mailbox lines are levels ([`crate::mailbox::IrqLine`]). The transport can only
//! carry messages, so the model sends one `VIRTIO_PCIDEV_OP_MSI` message (size 4, data =
//! hwirq 0..=3 as a little-endian u32, device-tree order) on every rising edge of a line after
//! reset ([`Device::take_irqs`]); the lines high at reset are not announced. Because
//! the mailbox driver masks lines at the interrupt controller and relies on them staying high
//! (recv-not-empty before `apple_mbox_start`, send-empty when re-enabled after FULL), the
//! model also offers the model-only `irqctl` block so the kernel-side glue can resample:
//!
//! | offset | access | meaning |
//! |---|---|---|
//! | 0x0 `LEVELS` | r32 | bit n = current level of hwirq n |
//! | 0x4 `RESAMPLE` | w32 | for each bit n set whose line is high now, send hwirq n again |
//!
//! The glue should write `RESAMPLE` when it unmasks a line (or read `LEVELS` and inject
//! itself).
//!
//! # GPU MMU
//!
//! The device owns the UAT walker ([`crate::uat`]) and its TLB ([`crate::tlb`]). Invalidations
//! arrive through the model-only `tlbi` block ([`crate::tlbi`], UML's stand-in for the arm64
//! TLBI broadcast), which also runs test probes. Firmware stages translate through
//! [`Device::fw_translate`], which in strict mode refuses a fault or a stale hit (the real
//! firmware touching memory the driver did not map for it, or no longer maps, is a driver bug
//! the test must see).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use vm_memory::{GuestMemoryAtomic, GuestMemoryMmap};
use vmm_sys_util::event::EventNotifier;

use crate::asc::{Asc, AscEvent};
use crate::crashlog::{self, Crash, Regs};
use crate::dma::Dma;
use crate::fault::{self as faults, Timed};
use crate::fw::firmware::{self, GpuFirmware, UPPER_HALF_EXTEND};
use crate::fw::gpumem::{self, FwBus};
use crate::handoff;
use crate::layout::{Layout, Region};
use crate::mailbox::{IrqLine, Mailbox, Message};
use crate::rtkit::{Rtkit, RtkitConfig, EP_CRASHLOG};
use crate::soc::Soc;
use crate::strict::{Checked, Violation};
use crate::tlb::{Invalidate, Outcome, Tlb};
use crate::tlbi::{self, Action, ProbeResult, TlbiRegs};
use crate::trace::Trace;
use crate::uat::{Access, Walker};

/// `irqctl` LEVELS register.
pub const IRQCTL_LEVELS: u64 = 0x0;
/// `irqctl` RESAMPLE register.
pub const IRQCTL_RESAMPLE: u64 = 0x4;

pub use crate::fault::Fault;

/// Registers the model's RTKit leaves in a crash log's `Crg8` section (model's choice: a
/// firmware-text PC and stack in the upper half, EL1h with interrupts masked; a panic is not
/// an exception, so FAR and ESR are 0).
pub const PANIC_REGS: Regs = Regs {
    pc: 0xffff_ff80_0001_2340,
    sp: 0xffff_ff80_0040_0000,
    psr: 0x3c5,
    far: 0,
    esr: 0,
};

/// Everything that shapes the device.
#[derive(Clone, Debug)]
pub struct DeviceConfig {
    /// Which SoC's GPU to report.
    pub soc: Soc,
    /// The firmware ABI variant played (from the SoC and the firmware release).
    pub variant: &'static crate::fw::Variant,
    /// Address plan.
    pub layout: Layout,
    /// Refuse (true) or only log (false) violations.
    pub strict: bool,
    /// Injected failure.
    pub fault: Option<Fault>,
    /// RTKit firmware behaviour.
    pub rtkit: RtkitConfig,
    /// Physical address of the `handoff` reserved region, if the firmware should announce
    /// itself there at CPU start.
    pub handoff: Option<u64>,
    /// Physical address of the TTBAT (`ttbs` reserved region), if the GPU MMU is to be used.
    pub ttbs: Option<u64>,
}

impl Default for DeviceConfig {
    fn default() -> Self {
        DeviceConfig {
            soc: Soc::default(),
            variant: crate::fw::select(Soc::default(), crate::fw::FwVersion::LATEST)
                .expect("every SoC shipped with the latest firmware"),
            layout: Layout::default(),
            strict: true,
            fault: None,
            rtkit: RtkitConfig::default(),
            handoff: None,
            ttbs: None,
        }
    }
}

/// The whole simulated device.
#[derive(Debug)]
pub struct Device {
    cfg: DeviceConfig,
    asc: Asc,
    mbox: Mailbox,
    rtkit: Rtkit,
    dma: Dma,
    /// Firmware messages waiting for room in the I2A FIFO (the firmware blocks on a full FIFO).
    outbox: VecDeque<Message>,
    trace: Trace,
    /// Line levels as last evaluated.
    levels: u32,
    /// hwirqs to deliver, oldest first.
    irqs: VecDeque<u32>,
    /// Violations seen in non-strict mode.
    violations: Vec<Violation>,
    /// The GPU MMU's TLB.
    tlb: Tlb,
    /// The model-only `tlbi` block.
    tlbi: TlbiRegs,
    /// Whether the firmware has filled its crash-log buffer yet.
    crashlog_filled: bool,
    /// Whether the coprocessor has crashed (it serves nothing more).
    crashed: bool,
    /// What the firmware does next on its own, and when.
    timer: Option<(Instant, Timed)>,
    /// The GPU firmware (taken out while it runs).
    gpu: Option<Box<dyn GpuFirmware>>,
    /// Signalled when the GPU firmware has latched work.
    work: Option<EventNotifier>,
    /// When the device was made (the firmware's clock).
    born: Instant,
}

impl Device {
    /// A device in its reset state.
    pub fn new(cfg: DeviceConfig, trace: Trace) -> Self {
        let mut rtkit_cfg = cfg.rtkit.clone();
        if cfg.fault == Some(Fault::BadRtkitVersion) {
            rtkit_cfg.min_ver = 13;
            rtkit_cfg.max_ver = 14;
        }
        let asc = if cfg.fault == Some(Fault::AlreadyRunning) {
            Asc::started_earlier()
        } else {
            Asc::new()
        };
        let mut dev = Device {
            rtkit: Rtkit::new(rtkit_cfg),
            cfg,
            asc,
            mbox: Mailbox::new(),
            dma: Dma::default(),
            outbox: VecDeque::new(),
            trace,
            levels: 0,
            irqs: VecDeque::new(),
            violations: Vec::new(),
            tlb: Tlb::new(),
            tlbi: TlbiRegs::new(),
            crashlog_filled: false,
            crashed: false,
            timer: None,
            gpu: None,
            work: None,
            born: Instant::now(),
        };
        dev.gpu = Some(firmware::new(
            dev.cfg.variant.name,
            dev.cfg.soc.uat_oas(),
            dev.cfg.fault,
        ));
        let v = dev.cfg.variant;
        dev.trace.line(format!(
            "firmware variant={} soc={} version={}",
            v.name, dev.cfg.soc, v.firmware
        ));
        // Lines high at reset (the two "empty" ones) are not announced: nothing can have
        // requested them yet, and an edge is only sent when a line rises after reset.
        dev.levels = dev.mbox.irq_levels();
        dev
    }

    /// Gives the firmware access to the frontend's memory.
    pub fn set_memory(&mut self, mem: GuestMemoryAtomic<GuestMemoryMmap>) {
        self.dma.set_memory(mem);
    }

    /// Sets the event to signal when the GPU firmware has work (the backend runs it with
    /// [`Device::run_gpu_work`]). Without one, work waits until that call (tests).
    pub fn set_work_notifier(&mut self, n: EventNotifier) {
        self.work = Some(n);
    }

    /// Whether the GPU firmware has latched work not yet run.
    pub fn gpu_work_pending(&self) -> bool {
        self.gpu.as_ref().is_some_and(|g| g.has_work())
    }

    /// Whether the GPU firmware has consumed `Initialize` (it is ready).
    pub fn gpu_ready(&self) -> bool {
        self.gpu.as_ref().is_some_and(|g| g.ready())
    }

    /// Runs the GPU firmware's latched work (INIT, ring scans). A violation panics the
    /// firmware: strict, it is returned; otherwise recorded, and the firmware stays dead.
    pub fn run_gpu_work(&mut self) -> Checked<()> {
        let Some(mut gpu) = self.gpu.take() else {
            return Ok(());
        };
        let was_ready = gpu.ready();
        let r = gpu.run(self);
        if r.is_err() || self.crashed {
            gpu.panic();
        }
        let became_ready = !was_ready && gpu.ready();
        self.gpu = Some(gpu);
        if became_ready {
            self.firmware_ready();
        }
        let r = self.police(r, ());
        self.flush_outbox();
        self.update_irqs();
        r
    }

    /// The firmware consumed `Initialize`: a timed fault starts its clock.
    fn firmware_ready(&mut self) {
        let Some(fault) = self.cfg.fault else {
            return;
        };
        if let Some((after, what)) = fault.after_ready() {
            self.trace.line(format!(
                "fault {}: firmware ready, acting in {} ms",
                fault.name(),
                after.as_millis()
            ));
            self.schedule(after, what);
        }
    }

    /// Makes the firmware do `what` in `after` (replacing anything scheduled).
    pub fn schedule(&mut self, after: Duration, what: Timed) {
        self.timer = Some((Instant::now() + after, what));
    }

    /// When the scheduled action is due, if one is.
    pub fn timer_deadline(&self) -> Option<Instant> {
        self.timer.as_ref().map(|(at, _)| *at)
    }

    /// Runs the scheduled action if it is due at `now` (the backend's timer event). A
    /// violation on the way (say the crash-log buffer is not mapped) is policed as usual.
    pub fn run_timers(&mut self, now: Instant) -> Checked<()> {
        if self.timer.as_ref().is_none_or(|(at, _)| now < *at) {
            return Ok(());
        }
        let Some((_, what)) = self.timer.take() else {
            return Ok(());
        };
        let r = match what {
            Timed::Crash(panic) => self.crash(&panic),
            Timed::EventFlag { slot } => self.post_event_flag(slot),
        };
        let r = self.police(r, ());
        self.flush_outbox();
        self.update_irqs();
        r
    }

    fn post_event_flag(&mut self, slot: u32) -> Checked<()> {
        if self.crashed {
            return Ok(());
        }
        let Some(mut gpu) = self.gpu.take() else {
            return Ok(());
        };
        let r = gpu.post_event_flag(self, faults::firing(slot));
        if r.is_err() {
            gpu.panic();
        }
        self.gpu = Some(gpu);
        r.map(|_| ())
    }

    /// Whether the coprocessor has crashed.
    pub fn crashed(&self) -> bool {
        self.crashed
    }

    /// The firmware panics with the line `panic`: the crash log goes into the crash-log
    /// buffer through the UAT (kernel context, upper half, as the 0xef fill), then the crash
    /// message on endpoint 1; every later message is ignored. Without a granted buffer the
    /// firmware has nowhere to report to: it only stops.
    pub fn crash(&mut self, panic: &str) -> Checked<()> {
        if self.crashed {
            return Ok(());
        }
        self.crashed = true;
        self.timer = None;
        if let Some(gpu) = self.gpu.as_mut() {
            gpu.panic();
        }
        self.trace.line(format!("fw panic: {panic}"));
        let Some(buf) = self.rtkit.buffer(EP_CRASHLOG) else {
            self.trace
                .line("crashlog buffer not granted: the crash is not reported".into());
            return Ok(());
        };
        let v = self.cfg.variant;
        let crash = Crash {
            panic: panic.into(),
            version: format!("agx-model RTKit, GPU firmware {} ({})", v.firmware, v.name),
            regs: PANIC_REGS,
        };
        let log = match crash.build(buf.size as usize) {
            Ok(log) => log,
            Err(e) => {
                self.trace.line(format!(
                    "crashlog not written: {e}; the crash is not reported"
                ));
                return Ok(());
            }
        };
        let va = buf.addr | UPPER_HALF_EXTEND;
        gpumem::write(self, va, &log, "crash log")?;
        self.trace.line(format!(
            "crashlog written va=0x{va:x} bytes={} through the UAT",
            log.len()
        ));
        let msg0 = crashlog::crash_message(buf);
        self.send_all(vec![Message::new(EP_CRASHLOG, msg0)]);
        Ok(())
    }

    /// The firmware's memory access, for tests and later firmware stages.
    pub fn dma(&self) -> &Dma {
        &self.dma
    }

    /// The configuration.
    pub fn config(&self) -> &DeviceConfig {
        &self.cfg
    }

    /// The RTKit firmware state, for tests and reports.
    pub fn rtkit(&self) -> &Rtkit {
        &self.rtkit
    }

    /// The mailbox, for tests and reports.
    pub fn mailbox(&self) -> &Mailbox {
        &self.mbox
    }

    /// Violations recorded while not strict.
    pub fn violations(&self) -> &[Violation] {
        &self.violations
    }

    /// The trace, for the strict-mode report.
    pub fn trace(&self) -> &Trace {
        &self.trace
    }

    /// Records a free-form trace line.
    pub fn note(&mut self, line: String) {
        self.trace.line(line);
    }

    /// Applies the strict policy: in strict mode the violation is returned, otherwise it is
    /// traced, kept, and `fallback` is used.
    fn police<T>(&mut self, r: Checked<T>, fallback: T) -> Checked<T> {
        match r {
            Ok(v) => Ok(v),
            Err(v) => {
                self.trace.line(format!("violation {v}"));
                if self.cfg.strict {
                    Err(v)
                } else {
                    log::warn!("ignored (not strict): {v}");
                    self.violations.push(v);
                    Ok(fallback)
                }
            }
        }
    }

    /// Host MMIO read of `size` bytes at window offset `offset`.
    pub fn read(&mut self, offset: u64, size: u32) -> Checked<u64> {
        let Some((region, off)) = self.cfg.layout.decode(offset) else {
            self.trace.mmio_unmapped(false, offset, size, 0);
            let v = Violation::Transport(format!("read at window+0x{offset:x} hits no block"));
            return self.police(Err(v), 0);
        };
        let r = match region {
            Region::Sgx => self.read_sgx(off, size),
            Region::Asc => self.asc.read(off, size),
            Region::Mbox => self.mbox.read(off, size),
            Region::IrqCtl => self.read_irqctl(off, size),
            Region::Tlbi => self.tlbi.read(off, size, self.tlb.len()),
        };
        let value = self.police(r, 0);
        if let Ok(v) = value {
            self.trace.mmio_read(region, off, size, v);
        }
        if region == Region::Mbox {
            // A receive may have made room for firmware messages waiting to be sent.
            self.flush_outbox();
            self.update_irqs();
        }
        value
    }

    /// Host MMIO write of `size` bytes at window offset `offset`.
    pub fn write(&mut self, offset: u64, size: u32, value: u64) -> Checked<()> {
        let Some((region, off)) = self.cfg.layout.decode(offset) else {
            self.trace.mmio_unmapped(true, offset, size, value);
            let v = Violation::Transport(format!("write at window+0x{offset:x} hits no block"));
            return self.police(Err(v), ());
        };
        self.trace.mmio_write(region, off, size, value);
        match region {
            Region::Sgx => {
                let v = Violation::Unknown {
                    region,
                    offset: off,
                    write: true,
                };
                self.police(Err(v), ())?;
            }
            Region::Asc => {
                let r = self.asc.write(off, size, value);
                if self.police(r, AscEvent::None)? == AscEvent::CpuStarted {
                    self.cpu_started()?;
                }
            }
            Region::Mbox => {
                let r = self.mbox.write(off, size, value);
                if let Some(m) = self.police(r, None)? {
                    self.trace.mbox(false, &m);
                    self.run_firmware()?;
                }
            }
            Region::IrqCtl => self.write_irqctl(off, size, value)?,
            Region::Tlbi => {
                let r = self.tlbi.write(off, size, value);
                match self.police(r, Action::None)? {
                    Action::None => {}
                    Action::Invalidate { op, arg, inv } => self.invalidate(op, arg, inv),
                    Action::Probe { ctx, va, access } => self.probe(ctx, va, access)?,
                }
            }
        }
        self.update_irqs();
        Ok(())
    }

    fn read_sgx(&self, off: u64, size: u32) -> Checked<u64> {
        if let Some(v) = self.cfg.soc.sgx_read(off, size) {
            return Ok(v);
        }
        let known_width = [4, 8]
            .into_iter()
            .find(|w| self.cfg.soc.sgx_read(off, *w).is_some());
        Err(match known_width {
            Some(expected) => Violation::Width {
                region: Region::Sgx,
                offset: off,
                size,
                write: false,
                expected,
            },
            None => Violation::Unknown {
                region: Region::Sgx,
                offset: off,
                write: false,
            },
        })
    }

    fn read_irqctl(&self, off: u64, size: u32) -> Checked<u64> {
        match (off, size) {
            (IRQCTL_LEVELS, 4) => Ok(self.mbox.irq_levels().into()),
            _ => Err(Violation::Unknown {
                region: Region::IrqCtl,
                offset: off,
                write: false,
            }),
        }
    }

    fn write_irqctl(&mut self, off: u64, size: u32, value: u64) -> Checked<()> {
        match (off, size) {
            (IRQCTL_RESAMPLE, 4) => {
                let high = self.mbox.irq_levels() & value as u32;
                for line in IrqLine::ALL {
                    if high & (1 << line as u32) != 0 {
                        self.raise(line, " resample");
                    }
                }
                Ok(())
            }
            _ => {
                let v = Violation::Unknown {
                    region: Region::IrqCtl,
                    offset: off,
                    write: true,
                };
                self.police(Err(v), ())
            }
        }
    }

    /// The GPU MMU walker, if the TTBAT address is known.
    fn walker(&self) -> Checked<Walker> {
        let ttbat = self.cfg.ttbs.ok_or_else(|| {
            Violation::Uat("GPU VA translation without a TTBAT address (--ttbs)".into())
        })?;
        Ok(Walker {
            ttbat,
            oas: self.cfg.soc.uat_oas(),
        })
    }

    /// The TLB, for tests and reports.
    pub fn tlb(&self) -> &Tlb {
        &self.tlb
    }

    fn invalidate(&mut self, op: u32, arg: u64, inv: Invalidate) {
        let dropped = self.tlb.invalidate(inv);
        let what = match inv {
            Invalidate::Va { asid, va } => format!(" asid={asid} va=0x{va:x}"),
            Invalidate::Range { asid, start, end } => {
                format!(" asid={asid} start=0x{start:x} end=0x{end:x}")
            }
            Invalidate::Asid(asid) => format!(" asid={asid}"),
            Invalidate::All => String::new(),
        };
        self.trace.line(format!(
            "tlbi op={} arg=0x{arg:x}{what} dropped={dropped}",
            tlbi::op_name(op)
        ));
    }

    /// Translates through the TLB and traces faults and stale hits; malformed tables and
    /// unreachable memory are returned as violations (not policed).
    fn translate(&mut self, ctx: u32, va: u64, access: Access) -> Checked<Outcome> {
        let walker = self.walker()?;
        let o = self.tlb.translate(&walker, &self.dma, ctx, va, access)?;
        if let Some(line) = o.stale_line(ctx, va) {
            self.trace.line(line);
        }
        match o {
            Outcome::Fault(f) | Outcome::Stale { fault: Some(f), .. } => {
                self.trace.line(f.trace_line())
            }
            _ => {}
        }
        Ok(o)
    }

    /// A firmware access to GPU VA `va` of context `ctx`: the physical address, or (strict) a
    /// violation when the access faults or uses a stale translation. Not strict: a fault is
    /// recorded and `None` returned; a stale hit is recorded and its address used, as on
    /// hardware.
    pub fn fw_translate(&mut self, ctx: u32, va: u64, write: bool) -> Checked<Option<u64>> {
        let access = if write {
            Access::FW_WRITE
        } else {
            Access::FW_READ
        };
        let r = self.translate(ctx, va, access);
        let o = self.police(r.map(Some), None)?;
        let (pa, problem) = match o {
            None => return Ok(None),
            Some(Outcome::Ok { pa }) => (Some(pa), None),
            Some(Outcome::Fault(f)) => (None, Some(f.trace_line())),
            Some(o @ Outcome::Stale { pa, fault, .. }) => {
                (fault.is_none().then_some(pa), o.stale_line(ctx, va))
            }
        };
        match problem {
            Some(p) => self.police(Err(Violation::Uat(format!("firmware access: {p}"))), pa),
            None => Ok(pa),
        }
    }

    /// Like [`Device::fw_translate`], but a fault is returned as `Ok(None)` (traced, not
    /// policed) so the caller can name the rule the access broke; a stale hit and a malformed
    /// table are policed as there.
    pub fn fw_try_translate(&mut self, ctx: u32, va: u64, write: bool) -> Checked<Option<u64>> {
        let access = if write {
            Access::FW_WRITE
        } else {
            Access::FW_READ
        };
        let r = self.translate(ctx, va, access);
        match self.police(r.map(Some), None)? {
            None | Some(Outcome::Fault(_)) => Ok(None),
            Some(Outcome::Ok { pa }) => Ok(Some(pa)),
            Some(o @ Outcome::Stale { pa, fault, .. }) => {
                let pa = fault.is_none().then_some(pa);
                match o.stale_line(ctx, va) {
                    Some(p) => {
                        self.police(Err(Violation::Uat(format!("firmware access: {p}"))), pa)
                    }
                    None => Ok(pa),
                }
            }
        }
    }

    /// Runs a `tlbi` probe and stores its result for the registers.
    fn probe(&mut self, ctx: u32, va: u64, access: Access) -> Checked<()> {
        let r = self.translate(ctx, va, access);
        let Some(o) = self.police(r.map(Some), None)? else {
            self.tlbi.set_result(ProbeResult::default());
            return Ok(());
        };
        let mut res = ProbeResult::default();
        let pa = match o {
            Outcome::Ok { pa } => {
                res.status = tlbi::STATUS_OK;
                Some(pa)
            }
            Outcome::Fault(f) => {
                res.status = tlbi::STATUS_FAULT;
                res.fault_info = f.fault_info(0);
                None
            }
            Outcome::Stale { pa, fault, .. } => {
                res.status = tlbi::STATUS_STALE;
                res.fault_info = fault.map_or(0, |f| f.fault_info(0));
                fault.is_none().then_some(pa)
            }
        };
        if let Some(pa) = pa {
            res.pa = pa;
            if !access.write {
                let r = self.dma.read_u64(pa);
                res.data = self.police(r, 0)?;
            }
        }
        let result = match res.status {
            tlbi::STATUS_OK => format!("ok pa=0x{:x} data=0x{:x}", res.pa, res.data),
            tlbi::STATUS_FAULT => format!("fault info=0x{:x}", res.fault_info),
            _ => format!(
                "stale pa=0x{:x} data=0x{:x} info=0x{:x}",
                res.pa, res.data, res.fault_info
            ),
        };
        self.trace.line(format!(
            "uat probe ctx={ctx} va=0x{va:x} access={access} -> {result}"
        ));
        self.tlbi.set_result(res);
        Ok(())
    }

    fn cpu_started(&mut self) -> Checked<()> {
        if let Some(f) = self.cfg.fault {
            self.trace
                .line(format!("fault {}: injected for this run", f.name()));
        }
        if self.cfg.fault == Some(Fault::NeverAnswer) {
            self.trace
                .line("fault never-answer: CPU started, firmware stays silent".into());
            return Ok(());
        }
        if let Some(base) = self.cfg.handoff {
            let addr = base + handoff::MAGIC_FW;
            let r = self.dma.write_u64(addr, handoff::MAGIC);
            if self.police(r.map(|()| true), false)? {
                self.trace.line(format!(
                    "dma w64 0x{addr:x} = 0x{:x} handoff.magic_fw",
                    handoff::MAGIC
                ));
            }
        }
        let msgs = self.rtkit.boot();
        self.drain_notes();
        self.send_all(msgs);
        // Messages the host queued before the start are taken now (m1n1 sends an early
        // SET_IOP_PWR_STATE; Linux sends nothing before HELLO).
        self.run_firmware()
    }

    /// The firmware consumes every host message waiting in A2I.
    fn run_firmware(&mut self) -> Checked<()> {
        if self.cfg.fault == Some(Fault::NeverAnswer) || !self.asc.running() {
            // A stopped or dead coprocessor leaves the FIFO as it is.
            return Ok(());
        }
        while let Some(m) = self.mbox.iop_recv() {
            if self.crashed {
                // Model's choice: the panicked RTKit still drains its FIFO (so a host that
                // sends anyway is not blocked) but acts on nothing.
                self.trace.line(format!(
                    "rtkit crashed: ignored ep=0x{:02x} msg0=0x{:016x}",
                    m.ep(),
                    m.msg0
                ));
                continue;
            }
            let r = self.rtkit.handle(m);
            self.drain_notes();
            let answers = self.police(r, Vec::new())?;
            self.send_all(answers);
            self.deliver_app_messages();
        }
        self.fill_crashlog()
    }

    /// Once the host has granted the crash-log buffer, the GPU firmware fills it with 0xef
    /// through its own (kernel-context, upper-half) mappings, as seen on real hardware
    /// (shared/research/agx-firmware-behaviour.md §3.3). The reply carries VA bits 43:0; the
    /// firmware re-extends them into the upper half. Every page goes through the UAT walker,
    /// so a buffer the driver did not map (or mapped wrongly) is caught here.
    fn fill_crashlog(&mut self) -> Checked<()> {
        if self.crashlog_filled || self.crashed || self.cfg.handoff.is_none() {
            return Ok(());
        }
        let Some(buf) = self.rtkit.buffer(crate::rtkit::EP_CRASHLOG) else {
            return Ok(());
        };
        self.crashlog_filled = true;
        let base = buf.addr | UPPER_HALF_EXTEND;
        let page = 0x4000u64;
        let fill = [0xefu8; 0x4000];
        let mut pages = 0;
        for off in (0..buf.size).step_by(page as usize) {
            let va = base + off;
            let Some(pa) = self.fw_translate(0, va, true)? else {
                self.trace
                    .line(format!("crashlog fill stopped at va=0x{va:x}"));
                return Ok(());
            };
            let r = self.dma.write(pa, &fill);
            self.police(r, ())?;
            pages += 1;
        }
        self.trace.line(format!(
            "crashlog filled va=0x{base:x} pages={pages} through the UAT"
        ));
        Ok(())
    }

    /// Hands endpoint 0x20/0x21 messages to the GPU firmware, which latches them, and
    /// signals the work event if there is work.
    fn deliver_app_messages(&mut self) {
        let msgs = self.rtkit.take_app_messages();
        let Some(gpu) = self.gpu.as_mut() else {
            return;
        };
        let mut notes = Vec::new();
        for (ep, msg0) in msgs {
            notes.extend(gpu.mailbox(ep, msg0));
        }
        let work = gpu.has_work();
        for n in notes {
            self.trace.line(n);
        }
        if work {
            if let Some(w) = &self.work {
                if let Err(e) = w.notify() {
                    log::error!("cannot signal GPU firmware work: {e}");
                }
            }
        }
    }

    fn drain_notes(&mut self) {
        for n in self.rtkit.take_notes() {
            self.trace.line(n);
        }
    }

    fn send_all(&mut self, msgs: Vec<Message>) {
        self.outbox.extend(msgs);
        self.flush_outbox();
    }

    fn flush_outbox(&mut self) {
        while let Some(m) = self.outbox.front().copied() {
            if !self.mbox.iop_send(m) {
                break;
            }
            self.outbox.pop_front();
            self.trace.mbox(true, &m);
        }
    }

    fn raise(&mut self, line: IrqLine, why: &str) {
        self.trace.line(format!(
            "irq raise hwirq={} {}{why}",
            line as u32,
            line.name()
        ));
        self.irqs.push_back(line as u32);
    }

    fn update_irqs(&mut self) {
        let now = self.mbox.irq_levels();
        for line in IrqLine::ALL {
            let bit = 1 << line as u32;
            if now & bit != 0 && self.levels & bit == 0 {
                self.raise(line, "");
            } else if now & bit == 0 && self.levels & bit != 0 {
                self.trace
                    .line(format!("irq lower hwirq={} {}", line as u32, line.name()));
            }
        }
        self.levels = now;
    }

    /// Takes the interrupts to deliver (hwirq numbers, oldest first).
    pub fn take_irqs(&mut self) -> Vec<u32> {
        self.irqs.drain(..).collect()
    }

    /// A report of the state for a strict-mode abort.
    pub fn report(&self, v: &Violation) -> String {
        let mut s = format!(
            "agx-model: strict mode: the real hardware would not accept this:\n  {v}\n\
             state: soc={} cpu={} rtkit={} version={:?} iop-power=0x{:x} ap-power=0x{:x} \
             a2i={} i2a={} irq-levels=0b{:04b}\nlast trace lines:\n",
            self.cfg.soc,
            if self.asc.running() {
                "running"
            } else {
                "stopped"
            },
            self.rtkit.state(),
            self.rtkit.version(),
            self.rtkit.iop_power(),
            self.rtkit.ap_power(),
            self.mbox.a2i_len(),
            self.mbox.i2a_len(),
            self.mbox.irq_levels(),
        );
        for l in self.trace.recent() {
            s.push_str("  ");
            s.push_str(l);
            s.push('\n');
        }
        s
    }
}

/// The GPU firmware's view of the device: context-0 translations, memory, trace, mailbox.
impl FwBus for Device {
    fn fw_try_translate(&mut self, va: u64, write: bool) -> Checked<Option<u64>> {
        Device::fw_try_translate(self, 0, va, write)
    }

    fn fw_dma(&self) -> &Dma {
        &self.dma
    }

    fn fw_trace(&mut self, line: String) {
        self.trace.line(line);
    }

    fn fw_send(&mut self, ep: u8, msg0: u64) {
        self.send_all(vec![Message::new(ep, msg0)]);
    }

    fn fw_now_us(&self) -> u64 {
        self.born.elapsed().as_micros() as u64
    }

    fn fw_crash(&mut self, panic: &str) -> Checked<()> {
        self.crash(panic)
    }

    fn fw_handoff(&self) -> Option<u64> {
        self.cfg.handoff
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asc::{CPU_CONTROL, CPU_CONTROL_RUN};
    use crate::mailbox::{
        A2I_CONTROL, A2I_SEND0, A2I_SEND1, CONTROL_EMPTY, I2A_CONTROL, I2A_RECV0, I2A_RECV1,
    };
    use crate::rtkit::{self, State};
    use crate::soc;

    const ASC: u64 = 0x40_0000;
    const MBOX: u64 = 0x40_8000;
    const IRQCTL: u64 = 0xff_f000;

    fn dev(cfg: DeviceConfig) -> Device {
        Device::new(cfg, Trace::new(None))
    }

    fn start(d: &mut Device) {
        let v = d.read(ASC + CPU_CONTROL, 4).unwrap();
        d.write(ASC + CPU_CONTROL, 4, v | u64::from(CPU_CONTROL_RUN))
            .unwrap();
    }

    fn recv_all(d: &mut Device) -> Vec<Message> {
        let mut out = Vec::new();
        while d.read(MBOX + I2A_CONTROL, 4).unwrap() as u32 & CONTROL_EMPTY == 0 {
            let msg0 = d.read(MBOX + I2A_RECV0, 8).unwrap();
            let msg1 = d.read(MBOX + I2A_RECV1, 8).unwrap() as u32;
            out.push(Message { msg0, msg1 });
        }
        out
    }

    fn send(d: &mut Device, ep: u8, msg0: u64) {
        d.write(MBOX + A2I_SEND0, 8, msg0).unwrap();
        d.write(MBOX + A2I_SEND1, 8, u64::from(ep)).unwrap();
    }

    #[test]
    fn reset_sends_no_interrupt_but_reports_levels() {
        let mut d = dev(DeviceConfig::default());
        assert!(d.take_irqs().is_empty());
        assert_eq!(d.read(IRQCTL + IRQCTL_LEVELS, 4).unwrap(), 0b0101);
        d.write(IRQCTL + IRQCTL_RESAMPLE, 4, 0b1111).unwrap();
        assert_eq!(d.take_irqs(), vec![0, 2]);
    }

    #[test]
    fn cpu_start_queues_hello_and_raises_recv_not_empty() {
        let mut d = dev(DeviceConfig::default());
        d.take_irqs();
        start(&mut d);
        assert_eq!(d.take_irqs(), vec![3]);
        let m = recv_all(&mut d);
        assert_eq!(m.len(), 1);
        assert_eq!(rtkit::mgmt_type(m[0].msg0), rtkit::MGMT_HELLO);
        // Draining raised recv-empty again; recv-not-empty is low.
        assert_eq!(d.take_irqs(), vec![2]);
        assert_eq!(
            d.read(IRQCTL + IRQCTL_LEVELS, 4).unwrap(),
            0b0101,
            "send-empty and recv-empty"
        );
    }

    #[test]
    fn resample_resends_only_high_lines() {
        let mut d = dev(DeviceConfig::default());
        d.take_irqs();
        start(&mut d);
        d.take_irqs();
        d.write(IRQCTL + IRQCTL_RESAMPLE, 4, 0b1010).unwrap();
        assert_eq!(d.take_irqs(), vec![3]);
    }

    #[test]
    fn messages_queued_before_cpu_start_are_taken_at_start() {
        let mut d = dev(DeviceConfig::default());
        send(&mut d, 0, (6 << 52) | 0x220);
        assert_eq!(d.mailbox().a2i_len(), 1, "nobody reads A2I yet");
        start(&mut d);
        assert_eq!(d.mailbox().a2i_len(), 0);
        let m = recv_all(&mut d);
        assert_eq!(rtkit::mgmt_type(m[0].msg0), rtkit::MGMT_HELLO);
        assert_eq!(m[1], Message::new(0, (7 << 52) | 0x220));
    }

    #[test]
    fn full_linux_like_boot_reaches_running() {
        let mut d = dev(DeviceConfig::default());
        start(&mut d);
        let hello = recv_all(&mut d)[0];
        assert_eq!((hello.msg0 >> 16) & 0xffff, 12);
        send(&mut d, 0, (2 << 52) | 12 | (12 << 16));
        let m = recv_all(&mut d);
        assert_eq!(m[0].msg0 & 0xffff_ffff, 0b11);
        send(&mut d, 0, (8 << 52) | rtkit::EPMAP_REPLY_MORE);
        let m = recv_all(&mut d);
        assert_ne!(m[0].msg0 & rtkit::EPMAP_LAST, 0);
        send(&mut d, 0, (8 << 52) | (1 << 32) | rtkit::EPMAP_LAST);
        send(&mut d, 0, (5 << 52) | (1 << 32) | rtkit::STARTEP_FLAG);
        let m = recv_all(&mut d);
        assert_eq!(
            m,
            vec![
                Message::new(0, (7 << 52) | 0x20),
                Message::new(1, 0x0012_0000_0000_0000)
            ]
        );
        send(&mut d, 1, (1 << 52) | (0x20 << 44) | 0xfa0_0c38_8000);
        send(&mut d, 0, (0xb << 52) | 0x20);
        assert_eq!(recv_all(&mut d), vec![Message::new(0, (0xb << 52) | 0x20)]);
        assert_eq!(d.rtkit().state(), State::Running);
        assert!(d.rtkit().gpu_endpoints_startable());
        send(&mut d, 0, (5 << 52) | (0x20 << 32) | rtkit::STARTEP_FLAG);
        assert!(d.rtkit().started(0x20));
    }

    #[test]
    fn never_answer_keeps_silent_and_fills_a2i() {
        let cfg = DeviceConfig {
            fault: Some(Fault::NeverAnswer),
            ..DeviceConfig::default()
        };
        let mut d = dev(cfg);
        start(&mut d);
        assert!(recv_all(&mut d).is_empty());
        for _ in 0..crate::mailbox::FIFO_DEPTH {
            send(&mut d, 0, 3 << 52);
        }
        let c = d.read(MBOX + A2I_CONTROL, 4).unwrap() as u32;
        assert_ne!(c & crate::mailbox::CONTROL_FULL, 0);
        assert!(!d.mailbox().irq_level(IrqLine::SendEmpty));
    }

    #[test]
    fn bad_rtkit_version_offers_13_to_14() {
        let cfg = DeviceConfig {
            fault: Some(Fault::BadRtkitVersion),
            ..DeviceConfig::default()
        };
        let mut d = dev(cfg);
        start(&mut d);
        let hello = recv_all(&mut d)[0];
        assert_eq!(hello.msg0 & 0xffff, 13);
        assert_eq!((hello.msg0 >> 16) & 0xffff, 14);
    }

    #[test]
    fn cpu_start_writes_the_handoff_magic_before_hello() {
        use vm_memory::{GuestAddress, GuestMemoryAtomic, GuestMemoryMmap};
        let cfg = DeviceConfig {
            handoff: Some(0x2000),
            ..DeviceConfig::default()
        };
        let mut d = dev(cfg.clone());
        let gm = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 0x4000)]).unwrap();
        d.set_memory(GuestMemoryAtomic::new(gm));
        start(&mut d);
        assert_eq!(d.dma().read_u64(0x2008).unwrap(), handoff::MAGIC);
        assert_eq!(
            d.dma().read_u64(0x2000).unwrap(),
            0,
            "magic_ap is the host's"
        );
        assert_eq!(recv_all(&mut d).len(), 1);

        // Without shared memory the write is refused (strict).
        let mut d = dev(cfg);
        let v = d.read(ASC + CPU_CONTROL, 4).unwrap();
        assert!(matches!(
            d.write(ASC + CPU_CONTROL, 4, v | u64::from(CPU_CONTROL_RUN)),
            Err(Violation::Dma(_))
        ));
    }

    #[test]
    fn sgx_reports_the_soc() {
        let cfg = DeviceConfig {
            soc: Soc::T8112,
            ..DeviceConfig::default()
        };
        let mut d = dev(cfg);
        assert_eq!(d.read(soc::ID_VERSION, 4).unwrap() >> 24, 5);
        assert!(d.read(0x1234, 4).is_err());
        assert!(d.write(soc::ID_VERSION, 4, 0).is_err());
    }

    #[test]
    fn strict_and_lenient_policies() {
        let mut d = dev(DeviceConfig::default());
        let e = d.read(MBOX + I2A_RECV0, 8).unwrap_err();
        assert!(matches!(e, Violation::Mailbox(_)));
        assert!(d.report(&e).contains("I2A_RECV0"));
        // Before CPU start a message only waits; at start the firmware refuses a message
        // that is not a management request it knows.
        d.write(MBOX + A2I_SEND0, 8, 0).unwrap();
        d.write(MBOX + A2I_SEND1, 8, 0).unwrap();
        assert_eq!(d.mailbox().a2i_len(), 1);
        let v = d.read(ASC + CPU_CONTROL, 4).unwrap();
        assert!(matches!(
            d.write(ASC + CPU_CONTROL, 4, v | u64::from(CPU_CONTROL_RUN)),
            Err(Violation::Rtkit(_))
        ));

        let cfg = DeviceConfig {
            strict: false,
            ..DeviceConfig::default()
        };
        let mut d = dev(cfg);
        assert_eq!(d.read(MBOX + I2A_RECV0, 8).unwrap(), 0);
        start(&mut d);
        recv_all(&mut d);
        send(&mut d, 0, (2 << 52) | 99 | (99 << 16));
        assert_eq!(d.violations().len(), 2);
        assert_eq!(d.rtkit().state(), State::HelloSent);
    }

    #[test]
    fn firmware_waits_for_room_in_i2a() {
        let mut d = dev(DeviceConfig::default());
        start(&mut d);
        recv_all(&mut d);
        send(&mut d, 0, (2 << 52) | 12 | (12 << 16));
        recv_all(&mut d);
        send(&mut d, 0, (8 << 52) | rtkit::EPMAP_REPLY_MORE);
        recv_all(&mut d);
        send(&mut d, 0, (8 << 52) | (1 << 32) | rtkit::EPMAP_LAST);
        // 20 pings without receiving: 1 ack + 14 pongs fit, the rest wait in the outbox.
        for _ in 0..20 {
            send(&mut d, 0, 3 << 52);
        }
        assert_eq!(d.mailbox().i2a_len(), crate::mailbox::FIFO_DEPTH);
        let all = recv_all(&mut d);
        assert_eq!(all.len(), 21);
        assert!(all[1..]
            .iter()
            .all(|m| rtkit::mgmt_type(m.msg0) == rtkit::MGMT_PONG));
    }

    mod uat_block {
        use super::*;
        use crate::tlbi::*;
        use crate::uat::tests::{prot, Builder, TTBAT};
        use crate::uat::PAGE_SIZE;
        use vm_memory::{GuestAddress, GuestMemoryAtomic, GuestMemoryMmap};

        const TLBI: u64 = 0xff_e000;
        const KVA: u64 = 0xffff_ffa8_0000_4000;

        /// A device with RAM 0..8 MiB, the TTBAT at TTBAT, and one firmware-shared kernel
        /// page at KVA -> 0x40_0000 holding 0x1122; returns the leaf descriptor's address.
        fn setup(strict: bool) -> (Device, u64) {
            let mut d = dev(DeviceConfig {
                ttbs: Some(TTBAT),
                strict,
                ..DeviceConfig::default()
            });
            let gm = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 0x80_0000)]).unwrap();
            d.set_memory(GuestMemoryAtomic::new(gm));
            let dma = d.dma().clone();
            let mut b = Builder::new();
            let root = b.root(&dma, 0, 1, 0);
            let leaf = b.map(&dma, root, KVA, 0x40_0000 | prot(1, true, false, 2));
            dma.write_u64(0x40_0008, 0x1122).unwrap();
            (d, leaf)
        }

        fn probe(d: &mut Device, ctx: u32, va: u64, cmd: u64) -> Checked<(u64, u64, u64, u64)> {
            d.write(TLBI + PROBE_VA, 8, va)?;
            d.write(TLBI + PROBE_CTX, 4, ctx.into())?;
            d.write(TLBI + PROBE_CMD, 4, cmd)?;
            Ok((
                d.read(TLBI + PROBE_STATUS, 4)?,
                d.read(TLBI + PROBE_PA, 8)?,
                d.read(TLBI + PROBE_FAULT, 8)?,
                d.read(TLBI + PROBE_DATA, 8)?,
            ))
        }

        fn tlbi(d: &mut Device, op: u32, arg: u64) -> Checked<()> {
            d.write(TLBI + ARG0, 8, arg)?;
            d.write(TLBI + OP, 4, op.into())
        }

        #[test]
        fn unmap_without_invalidation_is_stale_with_it_a_fault() {
            let (mut d, leaf) = setup(true);
            assert_eq!(
                probe(&mut d, 0, KVA + 8, 1).unwrap(),
                (1, 0x40_0008, 0, 0x1122)
            );
            assert_eq!(d.read(TLBI + TLB_ENTRIES, 4).unwrap(), 1);
            // The driver clears the PTE but does not invalidate.
            d.dma().write_u64(leaf, 0).unwrap();
            assert_eq!(
                probe(&mut d, 0, KVA + 8, 1).unwrap(),
                (3, 0x40_0008, 0, 0x1122)
            );
            assert!(d.trace().recent().any(|l| l
                == "uat stale ctx=0 va=0xffffffa800004008 cached_pa=0x400000 \
                    table=fault:translation@2 cached_pte=0xc000000040044b"));
            // Now it invalidates the page (ASID 0, VA >> 12).
            tlbi(&mut d, OP_VAE1OS, (KVA >> 12) & ((1 << 44) - 1)).unwrap();
            assert_eq!(d.read(TLBI + COUNT, 4).unwrap(), 1);
            assert_eq!(d.read(TLBI + TLB_ENTRIES, 4).unwrap(), 0);
            let (status, pa, info, _) = probe(&mut d, 0, KVA + 8, 1).unwrap();
            assert_eq!((status, pa), (2, 0));
            assert_eq!(info & 0xf, 1, "valid, reason 0 unmapped");
            assert_eq!((info >> 4) & 1, 1, "read");
            assert_eq!((info >> 7) & 3, 2, "level");
            assert_eq!((info >> 30) << 6, KVA & ((1 << 40) - 1), "64-byte units");
            let recent: Vec<&str> = d.trace().recent().collect();
            assert!(recent.contains(
                &"tlbi op=vae1os arg=0xffffa800004 asid=0 va=0xffffffa800004000 dropped=1"
            ));
            assert!(recent.contains(&"uat fault ctx=0 va=0xffffffa800004008 level=2 kind=translation reason=unmapped access=fw-read"));
            assert!(recent.iter().any(|l| l.starts_with(
                "uat probe ctx=0 va=0xffffffa800004008 access=fw-read -> fault info=0x"
            )));
        }

        #[test]
        fn probes_check_rights_and_never_write() {
            let (mut d, _) = setup(true);
            // FW_SHARED_RW: firmware may write, the GPU may not even read.
            assert_eq!(probe(&mut d, 0, KVA, 2).unwrap().0, 1);
            assert_eq!(d.dma().read_u64(0x40_0000).unwrap(), 0);
            let (status, _, info, _) = probe(&mut d, 0, KVA, 3).unwrap();
            assert_eq!((status, (info >> 1) & 7), (2, 4), "no access");
            // Range invalidation of two pages from KVA - 1 page drops it.
            let arg = (2 << 46) | (((KVA - PAGE_SIZE) >> 14) & ((1 << 37) - 1));
            tlbi(&mut d, OP_RVAE1OS, arg).unwrap();
            assert_eq!(d.read(TLBI + TLB_ENTRIES, 4).unwrap(), 0);
            probe(&mut d, 0, KVA, 1).unwrap();
            tlbi(&mut d, OP_ASIDE1OS, 0).unwrap();
            assert_eq!(
                d.read(TLBI + TLB_ENTRIES, 4).unwrap(),
                1,
                "global entry kept"
            );
            tlbi(&mut d, OP_VMALLE1OS, 0).unwrap();
            assert_eq!(d.read(TLBI + TLB_ENTRIES, 4).unwrap(), 0);
            assert_eq!(d.read(TLBI + COUNT, 4).unwrap(), 3);
        }

        #[test]
        fn strict_refusals() {
            let (mut d, leaf) = setup(true);
            assert!(matches!(tlbi(&mut d, 7, 0), Err(Violation::Tlbi(_))));
            assert!(matches!(
                tlbi(&mut d, OP_RVAE1OS, 1 << 46),
                Err(Violation::Tlbi(_))
            ));
            // Firmware accesses: fine when mapped, refused when unmapped or stale.
            assert_eq!(d.fw_translate(0, KVA, true).unwrap(), Some(0x40_0000));
            assert!(matches!(
                d.fw_translate(0, KVA + PAGE_SIZE, false),
                Err(Violation::Uat(_))
            ));
            d.dma().write_u64(leaf, 0).unwrap();
            assert!(matches!(
                d.fw_translate(0, KVA, false),
                Err(Violation::Uat(_))
            ));
            // A malformed descriptor is refused even for a probe.
            d.dma()
                .write_u64(leaf, 0x40_1000 | prot(1, true, false, 2))
                .unwrap();
            tlbi(&mut d, OP_VMALLE1OS, 0).unwrap();
            assert!(matches!(probe(&mut d, 0, KVA, 1), Err(Violation::Uat(_))));
            // No TTBAT configured.
            let mut d = dev(DeviceConfig::default());
            assert!(matches!(probe(&mut d, 0, KVA, 1), Err(Violation::Uat(_))));
        }

        #[test]
        fn lenient_mode_records_and_continues() {
            let (mut d, leaf) = setup(false);
            assert_eq!(d.fw_translate(0, KVA + PAGE_SIZE, false).unwrap(), None);
            assert_eq!(d.fw_translate(0, KVA, false).unwrap(), Some(0x40_0000));
            d.dma().write_u64(leaf, 0).unwrap();
            // Stale: recorded, the cached address still used as on hardware.
            assert_eq!(d.fw_translate(0, KVA, false).unwrap(), Some(0x40_0000));
            assert_eq!(d.violations().len(), 2);
            tlbi(&mut d, 9, 0).unwrap();
            assert_eq!(d.violations().len(), 3);
        }
    }
}
