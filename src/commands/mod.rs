//! One file per subcommand: run the library stages for a resolved plan and show the
//! result. No flag parsing and no pipeline logic here.

pub(crate) mod build;
pub(crate) mod cache;
pub(crate) mod describe;
pub(crate) mod inspect;
pub(crate) mod package;
pub(crate) mod push;
pub(crate) mod run;
pub(crate) mod toolchains;
