//! The integration suite: one test binary (see STYLE.md), one module per area. It runs
//! the real `scratchpack` binary against real compilers and real image clients.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod alpine;
mod attest;
mod build;
mod build_cache;
mod cli;
mod clients;
mod fetch;
mod hostile_build;
mod hostile_inspect;
mod inspect;
mod may_fail;
mod outputs;
mod package;
mod platforms;
mod projects;
mod push;
mod run;
mod sandbox;
mod start;
