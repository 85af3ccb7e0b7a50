// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! The `agx-model` binary: parse arguments, serve until UML disconnects or a signal arrives.
//!
//! Exit status, which the runners record and fail on (scripts/sim.sh `model-status`): 0 after
//! a clean disconnect or SIGTERM/SIGINT; [`agx_model::EXIT_STRICT`] after a strict-mode
//! violation; [`agx_model::EXIT_BACKEND`] when an event handler fails; [`agx_model::EXIT_PANIC`]
//! after a panic in any thread (the vhost-user worker threads' panics would otherwise go
//! unnoticed and a later SIGTERM end the process with 0); 1 for bad arguments or setup.

use std::process::ExitCode;

use clap::Parser;
use log::{error, info};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use agx_model::args::AgxArgs;
use agx_model::{start_backend, Config};

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default_hook(info);
        std::process::exit(agx_model::EXIT_PANIC);
    }));
    let args = AgxArgs::parse();
    if args.print_layout {
        let layout = match &args.dt_layout {
            Some(path) => match agx_model::dt_layout::DtLayout::load(path) {
                Ok(dt) => dt.layout,
                Err(e) => {
                    error!("{e}");
                    return ExitCode::FAILURE;
                }
            },
            None => args.layout.unwrap_or_default(),
        };
        print!("{}", layout.describe());
        return ExitCode::SUCCESS;
    }
    let config = match Config::try_from(args) {
        Ok(c) => c,
        Err(e) => {
            error!("{e}");
            return ExitCode::FAILURE;
        }
    };

    // SIGTERM/SIGINT end the process at once: the trace is written line by line, so nothing is
    // lost, and the socket file is removed so a stale one does not confuse the next run.
    let socket = config.socket.clone();
    match Signals::new([SIGINT, SIGTERM]) {
        Ok(mut signals) => {
            std::thread::spawn(move || {
                if let Some(sig) = signals.forever().next() {
                    info!("signal {sig}, exiting");
                    let _ = std::fs::remove_file(&socket);
                    std::process::exit(0);
                }
            });
        }
        Err(e) => {
            error!("cannot install signal handlers: {e}");
            return ExitCode::FAILURE;
        }
    }

    match start_backend(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e}");
            ExitCode::FAILURE
        }
    }
}
