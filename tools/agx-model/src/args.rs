// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! Command-line arguments (kept apart from `main.rs` so tools can reuse them, e.g. for a man
//! page).

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

use crate::layout::Layout;
use crate::mmio::Fault;
use crate::rtkit::{EP_CRASHLOG, EP_IOREPORT, EP_SYSLOG};
use crate::soc::Soc;

/// `--fault` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FaultArg {
    /// The firmware never runs: no HELLO, host messages never consumed.
    NeverAnswer,
    /// HELLO offers RTKit versions 13..=14, which Linux rejects.
    BadRtkitVersion,
    /// The coprocessor already runs (started by an earlier driver instance).
    AlreadyRunning,
    /// INIT accepted, DevCtrl never read (Initialize never consumed).
    NeverReady,
    /// The firmware panics at INIT ("Unable to grab init data from host").
    InitdataRejected,
    /// Normal boot, then a firmware panic 300 ms after Initialize.
    CrashAfterReady,
    /// Normal boot, then 100 ms after Initialize an Event Flag for slot 5 (no owner).
    UnknownEventSlot,
    /// Normal boot, but FwCtl (cache flush) messages are never consumed.
    FwctlStalls,
}

impl From<FaultArg> for Fault {
    fn from(f: FaultArg) -> Self {
        match f {
            FaultArg::NeverAnswer => Fault::NeverAnswer,
            FaultArg::BadRtkitVersion => Fault::BadRtkitVersion,
            FaultArg::AlreadyRunning => Fault::AlreadyRunning,
            FaultArg::NeverReady => Fault::NeverReady,
            FaultArg::InitdataRejected => Fault::InitDataRejected,
            FaultArg::CrashAfterReady => Fault::CrashAfterReady,
            FaultArg::UnknownEventSlot => Fault::UnknownEventSlot,
            FaultArg::FwctlStalls => Fault::FwCtlStalls,
        }
    }
}

/// `--soc` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SocArg {
    /// M1.
    T8103,
    /// M2.
    T8112,
    /// M1 Pro.
    T6000,
    /// M1 Max.
    T6001,
    /// M1 Ultra.
    T6002,
    /// M2 Pro.
    T6020,
    /// M2 Max.
    T6021,
    /// M2 Ultra.
    T6022,
}

impl From<SocArg> for Soc {
    fn from(s: SocArg) -> Self {
        match s {
            SocArg::T8103 => Soc::T8103,
            SocArg::T8112 => Soc::T8112,
            SocArg::T6000 => Soc::T6000,
            SocArg::T6001 => Soc::T6001,
            SocArg::T6002 => Soc::T6002,
            SocArg::T6020 => Soc::T6020,
            SocArg::T6021 => Soc::T6021,
            SocArg::T6022 => Soc::T6022,
        }
    }
}

/// `--system-endpoints` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SystemEndpoint {
    /// Endpoint 1 (seen on the real GPU).
    Crashlog,
    /// Endpoint 2.
    Syslog,
    /// Endpoint 4.
    Ioreport,
}

impl SystemEndpoint {
    /// RTKit endpoint number.
    pub fn ep(self) -> u8 {
        match self {
            SystemEndpoint::Crashlog => EP_CRASHLOG,
            SystemEndpoint::Syslog => EP_SYSLOG,
            SystemEndpoint::Ioreport => EP_IOREPORT,
        }
    }
}

fn parse_addr(s: &str) -> Result<u64, String> {
    let r = match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s.parse(),
    };
    r.map_err(|e| format!("bad address {s:?}: {e}"))
}

fn parse_versions(s: &str) -> Result<(u16, u16), String> {
    let (a, b) = s
        .split_once(':')
        .ok_or_else(|| format!("{s:?} is not MIN:MAX"))?;
    let min = a.parse().map_err(|e| format!("bad MIN {a:?}: {e}"))?;
    let max = b.parse().map_err(|e| format!("bad MAX {b:?}: {e}"))?;
    Ok((min, max))
}

/// Simulated Apple AGX GPU served to UML as a platform-mode virtio_pcidev device over
/// vhost-user.
#[derive(Parser, Debug, PartialEq, Eq)]
#[command(version, about)]
pub struct AgxArgs {
    /// vhost-user socket to listen on (UML's `socket-path`).
    #[arg(long, value_name = "PATH", required_unless_present = "print_layout")]
    pub socket: Option<PathBuf>,

    /// SoC whose GPU to simulate [default: t8103, or the --dt-layout file's].
    #[arg(long, value_enum)]
    pub soc: Option<SocArg>,

    /// Firmware release to play, e.g. 12.3 [default: 13.5, or the --dt-layout file's].
    #[arg(long, value_name = "VERSION")]
    pub firmware: Option<crate::fw::FwVersion>,

    /// Abort with a report on anything the real hardware would not accept.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub strict: bool,

    /// Write a line per MMIO access, mailbox message and state change to FILE.
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,

    /// Inject a failure.
    #[arg(long, value_enum)]
    pub fault: Option<FaultArg>,

    /// Register block placement: `default` or `NAME=OFFSET[:SIZE],...` (window offsets).
    #[arg(long, value_parser = clap::value_parser!(Layout), conflicts_with = "dt_layout")]
    pub layout: Option<Layout>,

    /// Take SoC, block placement and handoff address from the device-tree generator's JSON.
    #[arg(long, value_name = "FILE")]
    pub dt_layout: Option<PathBuf>,

    /// Physical address of the `handoff` reserved region (the firmware writes its magic there
    /// at CPU start) [default: none, or the --dt-layout file's].
    #[arg(long, value_name = "ADDR", value_parser = parse_addr)]
    pub handoff: Option<u64>,

    /// Physical address of the `ttbs` reserved region (the TTBAT the GPU MMU walks from)
    /// [default: none, or the --dt-layout file's].
    #[arg(long, value_name = "ADDR", value_parser = parse_addr)]
    pub ttbs: Option<u64>,

    /// RTKit versions the firmware's HELLO offers, MIN:MAX.
    #[arg(long, value_name = "MIN:MAX", default_value = "11:12", value_parser = parse_versions)]
    pub rtkit_version: (u16, u16),

    /// System endpoints the firmware announces besides management.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "crashlog")]
    pub system_endpoints: Vec<SystemEndpoint>,

    /// Print the address layout and exit.
    #[arg(long)]
    pub print_layout: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let a = AgxArgs::try_parse_from(["agx-model", "--socket", "/tmp/s"]).unwrap();
        assert_eq!(a.soc, None);
        assert!(a.strict);
        assert_eq!(a.rtkit_version, (11, 12));
        assert_eq!(a.system_endpoints, vec![SystemEndpoint::Crashlog]);
        assert_eq!(a.layout, None);
        assert_eq!(a.handoff, None);

        let a = AgxArgs::try_parse_from([
            "agx-model",
            "--socket=/tmp/s",
            "--soc=t6022",
            "--strict=false",
            "--fault=bad-rtkit-version",
            "--system-endpoints=crashlog,syslog,ioreport",
            "--rtkit-version=9:10",
            "--layout=asc=0x800000,mbox=0x808000",
            "--handoff=0x30004000",
        ])
        .unwrap();
        assert_eq!(a.soc, Some(SocArg::T6022));
        assert_eq!(a.handoff, Some(0x3000_4000));
        assert_eq!(a.ttbs, None);
        assert!(!a.strict);
        assert_eq!(a.fault, Some(FaultArg::BadRtkitVersion));
        assert_eq!(a.system_endpoints.len(), 3);
        assert_eq!(a.rtkit_version, (9, 10));
        assert_eq!(a.layout.unwrap().mbox.offset, 0x80_8000);
        assert!(AgxArgs::try_parse_from([
            "agx-model",
            "--socket=x",
            "--layout=default",
            "--dt-layout=f.json"
        ])
        .is_err());
    }

    #[test]
    fn socket_is_required_unless_printing_the_layout() {
        assert!(AgxArgs::try_parse_from(["agx-model"]).is_err());
        assert!(AgxArgs::try_parse_from(["agx-model", "--print-layout"]).is_ok());
        assert!(AgxArgs::try_parse_from(["agx-model", "--socket=x", "--fault=crash"]).is_err());
    }

    #[test]
    fn every_fault_is_spelt_as_the_model_names_it() {
        for f in Fault::ALL {
            let a = AgxArgs::try_parse_from(["agx-model", "--socket=x", "--fault", f.name()])
                .unwrap_or_else(|e| panic!("{}: {e}", f.name()));
            assert_eq!(a.fault.map(Fault::from), Some(f));
        }
    }
}
