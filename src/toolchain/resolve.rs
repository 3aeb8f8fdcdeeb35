//! Which tool a toolchain with a `[host]` table uses, in this order: the tool found on
//! the host (a search remembered between runs, see `memo`), unless the toolchain file
//! pins its version (`use_host = false`); else its pinned release already in the cache;
//! else that release, fetched now (never with `--offline`, unless from a `file://`
//! mirror). [`state`] answers the same question without fetching anything, for
//! `scratchpack toolchains`.

use super::Toolchain;
use super::fetch::{FetchContext, FetchError, Release};
use super::find::{FindError, HostTool};
use super::memo::find_remembered;
use crate::error::Hint;
use crate::ui::Ui;

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error(transparent)]
    NotFound(FindError),
    /// The cause is part of the message: `auto` lists one line per toolchain it skipped.
    #[error("{}", match tried {
        Some(find) => format!("{find}, and its pinned release cannot be fetched: {source}"),
        None => format!("its pinned release cannot be fetched: {source}"),
    })]
    Fetch {
        tried: Option<FindError>,
        source: Box<FetchError>,
    },
}

impl crate::error::Hint for ResolveError {
    fn hints(&self) -> Vec<String> {
        match self {
            ResolveError::NotFound(e) => e.hints(),
            ResolveError::Fetch { source, .. } => source.hints(),
        }
    }
}

/// Where a toolchain's tool is, or would come from.
#[derive(Debug, Clone)]
pub enum State {
    /// Found on the host.
    Host(HostTool),
    /// The pinned release, fetched earlier into the cache.
    Cached(HostTool),
    /// The pinned release, fetched on first use from `origin`.
    FirstUse { version: String, origin: String },
    /// Nowhere: why, and what to do.
    Unavailable { reason: String, hint: String },
}

/// The tool `toolchain` builds with, fetched if it must be; `None` for toolchains
/// installed in the rootfs.
pub fn resolve(
    toolchain: &Toolchain,
    ctx: &FetchContext,
    ui: &Ui,
) -> Result<Option<HostTool>, ResolveError> {
    let Some(host) = &toolchain.host else {
        return Ok(None);
    };
    let Some(release) = Release::for_host(toolchain) else {
        return find_remembered(host.finder, &ctx.host, &ctx.cache)
            .map(Some)
            .map_err(ResolveError::NotFound);
    };
    let mut tried = None;
    if release_uses_host(toolchain) {
        match find_remembered(host.finder, &ctx.host, &ctx.cache) {
            Ok(tool) => return Ok(Some(tool)),
            Err(e) => tried = Some(e),
        }
    }
    let fetched = release.and_then(|release| release.ensure(ctx, ui));
    fetched.map(Some).map_err(|source| ResolveError::Fetch {
        tried,
        source: Box::new(source),
    })
}

/// Whether a host tool is looked for before the pinned release.
fn release_uses_host(toolchain: &Toolchain) -> bool {
    toolchain.fetch.as_ref().is_none_or(|f| f.use_host)
}

fn release_hint() -> String {
    "put the tool on PATH, or make its release reachable (--toolchain-mirror, pip's index)".into()
}

/// Where `toolchain`'s tool is or would come from, fetching nothing (a quick probe of
/// where it would be fetched from).
pub fn state(toolchain: &Toolchain, ctx: &FetchContext) -> Option<State> {
    let host = toolchain.host.as_ref()?;
    let unavailable = |reason: String, hint: String| State::Unavailable { reason, hint };
    let Some(release) = Release::for_host(toolchain) else {
        return Some(match find_remembered(host.finder, &ctx.host, &ctx.cache) {
            Ok(tool) => State::Host(tool),
            Err(e) => unavailable(e.to_string(), e.hints().join("; ")),
        });
    };
    if release_uses_host(toolchain) {
        if let Ok(tool) = find_remembered(host.finder, &ctx.host, &ctx.cache) {
            return Some(State::Host(tool));
        }
    }
    let release = match release {
        Ok(release) => release,
        Err(e) => return Some(unavailable(e.to_string(), e.hints().join("; "))),
    };
    if let Some(tool) = release.cached(&ctx.cache) {
        return Some(State::Cached(tool));
    }
    if let Some(e) = release.refused_offline(ctx) {
        return Some(unavailable(e.to_string(), e.hints().join("; ")));
    }
    let origin = release.origin(ctx);
    Some(match release.probe(ctx) {
        Ok(()) => State::FirstUse {
            version: release.spec.version.clone(),
            origin,
        },
        Err(why) => unavailable(
            format!(
                "{} is not on the host, and its pinned release cannot be fetched from {origin}: {why}",
                toolchain.name
            ),
            release_hint(),
        ),
    })
}
