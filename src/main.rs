//! The `scratchpack` binary: parse, run, print the error chain and hints, exit 0/1/2.

use std::process::ExitCode;

use clap::Parser;
use scratchpack::{cli::Cli, error::ExitStatus, interrupt, ui::Ui};

fn main() -> ExitCode {
    // The sandbox helpers must stay single-threaded: dispatch them before anything else.
    match std::env::args_os().nth(1) {
        Some(a) if a == scratchpack::sandbox::HELPER_ARG => scratchpack::sandbox::helper_main(),
        Some(a) if a == scratchpack::sandbox::PROBE_ARG => scratchpack::sandbox::probe_main(),
        _ => {}
    }
    // Descriptors the caller left open are not passed on to any program scratchpack
    // runs (a build could read through them).
    scratchpack::sandbox::cloexec_inherited();
    // Ctrl-C, SIGTERM or SIGHUP: remove temporaries so no partial output survives.
    let _ = ctrlc::set_handler(|| {
        interrupt::cleanup();
        std::process::exit(130);
    });
    let args = scratchpack::cli::with_default_command(std::env::args_os().collect());
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                ExitStatus::Error.code()
            } else {
                0
            });
        }
    };
    let ui = Ui::detect(cli.quiet).verbose(cli.verbose);
    match scratchpack::run(cli, &ui) {
        Ok(status) => ExitCode::from(status.code()),
        Err(e) => {
            ui.error(&e, &e.hints());
            ExitCode::from(e.status().code())
        }
    }
}
