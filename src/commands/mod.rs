//! One file per subcommand: run the library stages for a resolved plan and show the
//! result. No flag parsing and no pipeline logic here.

pub mod build;
pub mod cache;
pub mod inspect;
pub mod package;
pub mod toolchains;
