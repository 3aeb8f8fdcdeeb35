//! The top-level error and exit status. Each stage has its own error type; this one only
//! rolls them up and classifies them: 1 when the input is at fault, 2 for usage,
//! environment and internal errors (uv's convention, see STYLE.md).

use crate::builder::BuildError;
use crate::inspect::InspectError;
use crate::package::PackageError;
use crate::plan::PlanError;

/// How the process ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// 0: everything checked out.
    Success,
    /// 1: the input is at fault (a dynamic binary, a compile error).
    Failure,
    /// 2: usage, environment or internal error.
    Error,
    /// The exit status of a program `run` started.
    Program(u8),
}

impl ExitStatus {
    pub fn code(self) -> u8 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::Failure => 1,
            ExitStatus::Error => 2,
            ExitStatus::Program(code) => code,
        }
    }
}

/// What the user can do about an error. Every stage's error implements it, one
/// signature for all: an error answers for its own variants and asks the errors it
/// wraps; [`Error::hints`] adds what the chain of causes says (a full disk).
pub trait Hint {
    /// The hints, most useful first; empty when there is nothing to add.
    fn hints(&self) -> Vec<String>;
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Inspect(#[from] InspectError),
    #[error(transparent)]
    Package(#[from] PackageError),
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error(transparent)]
    Registry(#[from] crate::registry::RegistryError),
    #[error(transparent)]
    Run(#[from] crate::run::RunError),
    #[error(transparent)]
    Describe(#[from] crate::commands::describe::DescribeError),
}

impl Error {
    pub fn status(&self) -> ExitStatus {
        match self {
            Error::Package(e) if e.is_input_fault() => ExitStatus::Failure,
            Error::Build(e) if e.is_input_fault() => ExitStatus::Failure,
            Error::Registry(e) if e.is_input_fault() => ExitStatus::Failure,
            Error::Run(e) if e.is_input_fault() => ExitStatus::Failure,
            Error::Describe(e) if e.is_input_fault() => ExitStatus::Failure,
            _ => ExitStatus::Error,
        }
    }

    pub fn hints(&self) -> Vec<String> {
        let mut hints = match self {
            Error::Plan(e) => e.hints(),
            Error::Inspect(e) => e.hints(),
            Error::Package(e) => e.hints(),
            Error::Build(e) => e.hints(),
            Error::Registry(e) => e.hints(),
            Error::Run(e) => e.hints(),
            Error::Describe(e) => e.hints(),
        };
        hints.extend(self.disk_full_hint());
        hints.dedup();
        hints
    }

    /// A hint for a full disk or quota, wherever in the chain of causes it shows.
    fn disk_full_hint(&self) -> Option<String> {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(self);
        while let Some(e) = cause {
            if let Some(io) = e.downcast_ref::<std::io::Error>() {
                let full = matches!(
                    io.kind(),
                    std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
                );
                if full {
                    return Some(
                        "the disk (or quota) is full: free some space, or write the output to \
                         another disk; scratchpack also writes beside the output and in its \
                         cache (SCRATCHPACK_CACHE_DIR)"
                            .into(),
                    );
                }
            }
            cause = e.source();
        }
        None
    }
}
