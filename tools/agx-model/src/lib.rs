// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! agx-model: the simulated Apple AGX GPU for the asahi-agx test machine.
//!
//! UML boots the unmodified driver stack (asahi DRM driver, apple mailbox driver, RTKit) against
//! a device tree whose GPU nodes sit in UML's platform MMIO window. UML forwards every access in
//! that window, as virtio_pcidev messages over vhost-user, to this process, which answers as the
//! hardware and firmware would and raises the mailbox interrupts.
//!
//! Module map, one job each:
//!
//! * [`layout`]: where the blocks sit in the window (the one address plan);
//! * [`soc`]: per-SoC GPU identity and the `sgx` ID registers;
//! * [`mailbox`]: ASC mailbox v4 FIFOs and interrupt levels;
//! * [`asc`]: the firmware CPU's control registers;
//! * [`dma`]: the firmware's access to UML's physical memory; [`handoff`]: the UAT handoff
//!   magic the firmware writes there;
//! * [`rtkit`]: the firmware's RTKit management protocol and system endpoints;
//! * [`mmio`]: the device: routing, the firmware reacting, interrupt edges, faults;
//! * [`uat`]: the GPU MMU page-table walker; [`tlb`]: its TLB and the stale-translation
//!   oracle;
//! * [`tlbi`]: the model-only block that receives TLB invalidations and runs UAT probes;
//! * [`strict`]: what is refused; [`trace`]: the greppable trace;
//! * [`pcidev`]: the virtio_pcidev wire format; [`vhu_agx`]: the vhost-user backend;
//! * [`args`]: the command line; [`dt_layout`]: reading the device-tree generator's layout.

pub mod args;
pub mod asc;
pub mod dma;
pub mod dt_layout;
pub mod handoff;
pub mod layout;
pub mod mailbox;
pub mod mmio;
pub mod pcidev;
pub mod rtkit;
pub mod soc;
pub mod strict;
pub mod tlb;
pub mod tlbi;
pub mod trace;
pub mod uat;
pub mod vhu_agx;

use std::fs::File;
use std::io::{self, LineWriter};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use log::info;
use thiserror::Error as ThisError;
use vhost::vhost_user::Listener;
use vhost_user_backend::{VhostUserBackendMut, VhostUserDaemon};
use vm_memory::{GuestMemoryAtomic, GuestMemoryMmap};

use crate::args::AgxArgs;
use crate::dt_layout::DtLayout;
use crate::mmio::{Device, DeviceConfig};
use crate::rtkit::RtkitConfig;
use crate::soc::Soc;
use crate::trace::Trace;
use crate::vhu_agx::{OnViolation, VhostUserAgxBackend};

/// Exit status after a strict-mode violation.
pub const EXIT_STRICT: i32 = 3;

/// Errors of the model process.
#[derive(Debug, ThisError)]
pub enum Error {
    /// The trace file could not be created.
    #[error("cannot create trace file {0}: {1}")]
    TraceFile(PathBuf, io::Error),
    /// The backend could not be created.
    #[error("could not create the backend: {0}")]
    CouldNotCreateBackend(vhu_agx::Error),
    /// The vhost-user daemon could not be created.
    #[error("could not create the vhost-user daemon: {0}")]
    CouldNotCreateDaemon(vhost_user_backend::Error),
    /// The socket could not be created.
    #[error("could not listen on {0}: {1}")]
    Listen(PathBuf, vhost::vhost_user::Error),
    /// Serving failed.
    #[error("serving the vhost-user connection failed: {0}")]
    Serve(vhost_user_backend::Error),
    /// No socket was given.
    #[error("no --socket given")]
    NoSocket,
    /// The device-tree layout file is unusable.
    #[error("{0}")]
    DtLayout(dt_layout::DtLayoutError),
    /// `--soc` disagrees with the layout file.
    #[error("--soc {0} disagrees with the layout file's SoC {1}")]
    SocMismatch(Soc, Soc),
    /// The RTKit version range is empty.
    #[error("RTKit version range {0}:{1} is empty")]
    VersionRange(u16, u16),
}

/// Result of the library's top-level operations.
pub type Result<T> = std::result::Result<T, Error>;

/// Everything the process needs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Socket to listen on.
    pub socket: PathBuf,
    /// Device behaviour.
    pub device: DeviceConfig,
    /// Trace file.
    pub trace: Option<PathBuf>,
}

impl TryFrom<AgxArgs> for Config {
    type Error = Error;

    fn try_from(a: AgxArgs) -> Result<Self> {
        let (min_ver, max_ver) = a.rtkit_version;
        if min_ver > max_ver {
            return Err(Error::VersionRange(min_ver, max_ver));
        }
        let mut system_endpoints: Vec<u8> = a.system_endpoints.iter().map(|e| e.ep()).collect();
        system_endpoints.sort_unstable();
        system_endpoints.dedup();
        let soc_arg: Option<Soc> = a.soc.map(Into::into);
        let (soc, layout, handoff, ttbs) = match &a.dt_layout {
            Some(path) => {
                let dt = DtLayout::load(path).map_err(Error::DtLayout)?;
                if let Some(s) = soc_arg.filter(|s| *s != dt.soc) {
                    return Err(Error::SocMismatch(s, dt.soc));
                }
                (
                    dt.soc,
                    dt.layout,
                    a.handoff.or(dt.handoff),
                    a.ttbs.or(dt.ttbs),
                )
            }
            None => (
                soc_arg.unwrap_or_default(),
                a.layout.unwrap_or_default(),
                a.handoff,
                a.ttbs,
            ),
        };
        Ok(Config {
            socket: a.socket.ok_or(Error::NoSocket)?,
            device: DeviceConfig {
                soc,
                layout,
                strict: a.strict,
                fault: a.fault.map(Into::into),
                rtkit: RtkitConfig {
                    min_ver,
                    max_ver,
                    system_endpoints,
                },
                handoff,
                ttbs,
            },
            trace: a.trace,
        })
    }
}

/// Listens on the socket, serves one UML connection and returns when it ends.
///
/// Prints `agx-model: listening on <path>` to stderr once the socket accepts connections, so a
/// runner can start UML after that line.
pub fn start_backend(config: Config) -> Result<()> {
    let out: Option<Box<dyn io::Write + Send>> = match &config.trace {
        Some(path) => {
            let f = File::create(path).map_err(|e| Error::TraceFile(path.clone(), e))?;
            Some(Box::new(LineWriter::new(f)))
        }
        None => None,
    };
    let mut trace = Trace::new(out);
    trace.line(format!(
        "model soc={} strict={} fault={} rtkit={}..={} handoff={} ttbs={}",
        config.device.soc,
        config.device.strict,
        config.device.fault.map_or("none", |f| f.name()),
        config.device.rtkit.min_ver,
        config.device.rtkit.max_ver,
        config
            .device
            .handoff
            .map_or("none".into(), |h| format!("0x{h:x}")),
        config
            .device
            .ttbs
            .map_or("none".into(), |t| format!("0x{t:x}"))
    ));
    let device = Arc::new(Mutex::new(Device::new(config.device.clone(), trace)));
    let backend = VhostUserAgxBackend::new(device, OnViolation::Exit)
        .map_err(Error::CouldNotCreateBackend)?;
    let exit = backend.exit_event(0).map(|(_, notifier)| notifier);
    let backend = Arc::new(RwLock::new(backend));
    let mut daemon = VhostUserDaemon::new(
        "agx-model".into(),
        backend,
        GuestMemoryAtomic::new(GuestMemoryMmap::new()),
    )
    .map_err(Error::CouldNotCreateDaemon)?;

    let mut listener =
        Listener::new(&config.socket, true).map_err(|e| Error::Listen(config.socket.clone(), e))?;
    eprintln!("agx-model: listening on {}", config.socket.display());
    daemon.start(&mut listener).map_err(Error::Serve)?;
    info!("frontend connected");
    let result = daemon.wait();
    if let Some(exit) = exit {
        // Worker threads stop on this; a failure only means they are gone already.
        let _ = exit.notify();
    }
    let _ = std::fs::remove_file(&config.socket);
    match result {
        Ok(()) => {
            info!("frontend disconnected");
            Ok(())
        }
        Err(vhost_user_backend::Error::HandleRequest(
            vhost::vhost_user::Error::Disconnected | vhost::vhost_user::Error::PartialMessage,
        )) => {
            info!("frontend disconnected");
            Ok(())
        }
        Err(e) => Err(Error::Serve(e)),
    }
}
