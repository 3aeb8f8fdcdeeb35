//! scratchpack: C or Go sources to the smallest possible container image, without a
//! Docker daemon. The pipeline is builder stage -> ELF inspector -> packager; each stage
//! is a module taking and returning plain data:
//!
//! - [`build`]: sources in, static binary out, compiled by a [`toolchain`] in the
//!   [`sandbox`] over an Alpine [`rootfs`].
//! - [`elf`]: bytes in, verdict out (static, static-pie, dynamic, shared library).
//! - [`inspect`]: the gate over files, directories and image archives.
//! - [`package`]: a static binary in, a FROM-scratch image out, via [`image`] (layer and
//!   JSON documents) and [`output`] (archive, OCI layout tar or directory).
//!
//! [`plan`] is the only reader of flags and environment; [`ui`] the only writer to the
//! terminal.

pub mod atomic;
pub mod beneath;
pub mod builder;
pub mod cache;
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
pub mod process;
pub mod provision;
pub mod reference;
pub mod rootfs;
pub mod sandbox;
pub mod source;
pub mod toolchain;
pub mod ui;

use cli::{Cli, Command};
use error::{Error, ExitStatus};
use plan::{BuildPlan, Environment, InspectPlan, PackagePlan, ToolchainsPlan};
use ui::Ui;

/// Runs one command line to completion.
pub fn run(cli: Cli, ui: &Ui) -> Result<ExitStatus, Error> {
    let env = Environment::from_process();
    match cli.command {
        Command::Build(args) => commands::build::run(&BuildPlan::resolve(args, &env)?, ui),
        Command::Inspect(args) => commands::inspect::run(&InspectPlan::from(args), ui),
        Command::Package(args) => commands::package::run(&PackagePlan::resolve(args, &env)?, ui),
        Command::Cache(command) => commands::cache::run(&command, &env, ui),
        Command::Toolchains(args) => {
            commands::toolchains::run(&ToolchainsPlan::resolve(args, &env)?, ui)
        }
    }
}
