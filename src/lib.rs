//! scratchpack: C or Go sources to the smallest possible container image, without a
//! Docker daemon. The pipeline is builder stage -> ELF inspector -> packager; each stage
//! is a module taking and returning plain data:
//!
//! - [`builder`]: sources in, static binary out, compiled by a [`toolchain`] in the
//!   [`sandbox`] over an Alpine [`rootfs`].
//! - [`elf`]: bytes in, verdict out (static, static-pie, dynamic, shared library).
//! - [`inspect`]: the gate over files, directories and image archives.
//! - [`package`]: a static binary in, a FROM-scratch image out, via [`image`] (layer and
//!   JSON documents) and [`output`] (archive, OCI layout tar or directory).
//! - [`attest`]: what went into each image (SPDX SBOM, SLSA provenance), stored beside
//!   it as OCI referrers.
//! - [`layout`]: image archives and layouts of any tool, read (shared by `inspect`,
//!   `push` and `run`).
//! - [`registry`]: an image pushed to a registry, byte for byte.
//! - [`run`]: an image's program started in the sandbox, without a daemon.
//!
//! [`plan`] is the only reader of flags and environment; [`ui`] the only writer to the
//! terminal.

pub(crate) mod atomic;
pub(crate) mod attest;
pub(crate) mod beneath;
pub mod builder;
pub mod cache;
pub mod cli;
pub(crate) mod commands;
pub(crate) mod digest;
pub mod elf;
pub mod error;
pub(crate) mod image;
pub mod inspect;
pub mod interrupt;
pub(crate) mod layout;
pub(crate) mod output;
pub(crate) mod package;
pub(crate) mod plan;
pub mod platform;
pub(crate) mod process;
pub(crate) mod provision;
pub(crate) mod reference;
pub(crate) mod registry;
pub mod rootfs;
pub(crate) mod run;
pub mod sandbox;
pub(crate) mod source;
pub mod toolchain;
pub mod ui;

use cli::{Cli, Command};
use error::{Error, ExitStatus};
use plan::{
    BuildPlan, DescribePlan, Environment, InspectPlan, PackagePlan, PushPlan, RunPlan,
    ToolchainsPlan,
};
use ui::Ui;

/// Runs one command line to completion.
pub fn run(cli: Cli, ui: &Ui) -> Result<ExitStatus, Error> {
    let env = Environment::from_process();
    match cli.command {
        Command::Build(args) => commands::build::run(&BuildPlan::resolve(args, &env)?, ui),
        Command::Inspect(args) => commands::inspect::run(&InspectPlan::from(args), ui),
        Command::Package(args) => commands::package::run(&PackagePlan::resolve(args, &env)?, ui),
        Command::Push(args) => commands::push::run(&PushPlan::resolve(args, &env)?, ui),
        Command::Run(args) => commands::run::run(&RunPlan::resolve(args, &env)?, ui),
        Command::Sbom(args) => {
            commands::describe::run(&DescribePlan::resolve(args, attest::SPDX_TYPE)?, ui)
        }
        Command::Provenance(args) => {
            commands::describe::run(&DescribePlan::resolve(args, attest::INTOTO_TYPE)?, ui)
        }
        Command::Cache(command) => commands::cache::run(&command, &env, ui),
        Command::Toolchains(args) => {
            commands::toolchains::run(&ToolchainsPlan::resolve(args, &env)?, ui)
        }
    }
}
