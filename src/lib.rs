//! scratchpack: C or Go sources to the smallest possible container image, without a
//! Docker daemon. The pipeline is builder stage -> ELF inspector -> packager; each stage
//! is a module taking and returning plain data:
//!
//! - [`elf`]: bytes in, verdict out (static, static-pie, dynamic, shared library).
//! - [`inspect`]: the gate over files, directories and image archives.
//! - [`package`]: a static binary in, a FROM-scratch image out, via [`image`] (layer and
//!   JSON documents) and [`output`] (archive, OCI layout tar or directory).
//!
//! [`plan`] is the only reader of flags and environment; [`ui`] the only writer to the
//! terminal.

pub mod atomic;
pub mod cli;
pub mod commands;
pub mod digest;
pub mod elf;
pub mod error;
pub mod image;
pub mod inspect;
pub mod interrupt;
pub mod output;
pub mod package;
pub mod plan;
pub mod platform;
pub mod reference;
pub mod ui;

use cli::{Cli, Command};
use error::{Error, ExitStatus};
use plan::{InspectPlan, PackagePlan};
use ui::Ui;

/// Runs one command line to completion.
pub fn run(cli: Cli, ui: &Ui) -> Result<ExitStatus, Error> {
    match cli.command {
        Command::Inspect(args) => commands::inspect::run(&InspectPlan::from(args), ui),
        Command::Package(args) => {
            let plan = PackagePlan::resolve(args, std::env::var("SOURCE_DATE_EPOCH").ok())?;
            commands::package::run(&plan, ui)
        }
    }
}
