//! Bounds on what a sandboxed command may consume: memory (all its processes together)
//! and wall-clock time. Without cgroups, which rootless processes rarely get, memory is
//! held two ways: `RLIMIT_DATA` stops any one process at the limit the moment it
//! allocates past it, and the helper, outside the sandbox's pid namespace, sums the
//! resident memory of every process in it ten times a second and kills them all when the
//! sum passes the limit. The same loop enforces the timeout. A limit that was hit comes
//! back to scratchpack as a setup-style failure naming it.

use std::collections::{HashMap, HashSet};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::resource::{Resource, getrlimit, setrlimit};
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

/// How often the helper looks at the sandbox's memory and clock.
const POLL: Duration = Duration::from_millis(100);
/// Processes the sandbox may run at once (fork bombs).
const MAX_PROCESSES: u64 = 16384;

/// Step names of the failure report for each limit.
pub const MEMORY_STEP: &str = "memory limit";
pub const TIME_STEP: &str = "time limit";

/// What a sandboxed command may use.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Bytes of memory, all processes together.
    pub memory: Option<u64>,
    /// Milliseconds of wall-clock time.
    pub timeout_ms: Option<u64>,
}

/// Which limit stopped the command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hit {
    Memory { limit: u64, used: u64 },
    Timeout { limit: Duration },
}

impl Hit {
    /// The step name and detail of the failure report.
    pub fn report(&self) -> (&'static str, String) {
        match self {
            Hit::Memory { limit, used } => (
                MEMORY_STEP,
                format!(
                    "the build used {} of memory, over the limit of {}",
                    human_bytes(*used),
                    human_bytes(*limit)
                ),
            ),
            Hit::Timeout { limit } => (
                TIME_STEP,
                format!("the build ran longer than {}", human_duration(*limit)),
            ),
        }
    }
}

/// Per-process limits, set in the namespace's init before it starts the command.
pub fn apply_rlimits(limits: &Limits) -> Result<(), (&'static str, Errno)> {
    setrlimit(Resource::RLIMIT_CORE, 0, 0).map_err(|e| ("disabling core dumps", e))?;
    if let Some(bytes) = limits.memory {
        let (_, hard) = getrlimit(Resource::RLIMIT_DATA).map_err(|e| ("reading RLIMIT_DATA", e))?;
        let limit = bytes.min(hard);
        setrlimit(Resource::RLIMIT_DATA, limit, limit).map_err(|e| ("setting RLIMIT_DATA", e))?;
    }
    let (_, hard) = getrlimit(Resource::RLIMIT_NPROC).map_err(|e| ("reading RLIMIT_NPROC", e))?;
    let n = MAX_PROCESSES.min(hard);
    setrlimit(Resource::RLIMIT_NPROC, n, n).map_err(|e| ("setting RLIMIT_NPROC", e))
}

/// Waits for `init`, enforcing `limits` on it and everything it started. Returns its
/// exit status, or the limit that was hit (everything is then already killed).
pub fn supervise(init: Pid, limits: &Limits) -> Result<i32, Hit> {
    let start = Instant::now();
    let deadline = limits.timeout_ms.map(Duration::from_millis);
    if deadline.is_none() && limits.memory.is_none() {
        return Ok(wait_blocking(init));
    }
    // Woken as soon as init exits, not at the next look: a quick build is not made to
    // wait for the poll interval.
    let exited = pidfd_open(init);
    loop {
        match waitpid(init, Some(WaitPidFlag::WNOHANG)) {
            Ok(status) => {
                if let Some(code) = exit_code(status) {
                    return Ok(code);
                }
            }
            Err(Errno::EINTR) => {}
            Err(_) => return Ok(super::SETUP_FAILED),
        }
        if let Some(limit) = deadline.filter(|d| start.elapsed() >= *d) {
            stop(init);
            return Err(Hit::Timeout { limit });
        }
        if let Some(limit) = limits.memory {
            let used = tree_memory(init);
            if used > limit {
                stop(init);
                return Err(Hit::Memory { limit, used });
            }
        }
        wait_for_exit(exited.as_ref(), POLL);
    }
}

/// A descriptor that becomes readable when `pid` exits (`pidfd_open`, Linux 5.3).
fn pidfd_open(pid: Pid) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    #[allow(unsafe_code)]
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    let fd = RawFd::try_from(fd).ok().filter(|fd| *fd >= 0)?;
    // SAFETY: the descriptor was just opened for this process and nothing else owns it.
    #[allow(unsafe_code)]
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Sleeps `timeout`, or less when `exited` (a pidfd) says the process ended.
fn wait_for_exit(exited: Option<&OwnedFd>, timeout: Duration) {
    let Some(fd) = exited else {
        std::thread::sleep(timeout);
        return;
    };
    let mut pollfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let millis = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: one valid pollfd, for the duration of the call.
    #[allow(unsafe_code)]
    let ready = unsafe { libc::poll(&mut pollfd, 1, millis) };
    if ready < 0 {
        // Interrupted, or no poll: never spin.
        std::thread::sleep(timeout / 10);
    }
}

/// The exit status a shell would give a finished child (128 + signal when killed);
/// `None` while it runs.
pub(super) fn exit_code(status: WaitStatus) -> Option<i32> {
    match status {
        WaitStatus::Exited(_, code) => Some(code),
        WaitStatus::Signaled(_, sig, _) => Some(128 + sig as i32),
        _ => None,
    }
}

/// Kills the namespace's init, which takes every process of its pid namespace with it.
fn stop(init: Pid) {
    let _ = kill(init, Signal::SIGKILL);
    let _ = wait_blocking(init);
}

fn wait_blocking(child: Pid) -> i32 {
    loop {
        match waitpid(child, None) {
            Ok(status) => {
                if let Some(code) = exit_code(status) {
                    return code;
                }
            }
            Err(Errno::EINTR) => {}
            Err(_) => return super::SETUP_FAILED,
        }
    }
}

/// Resident bytes of `root` and all its descendants (shared pages counted in each
/// process: an overestimate, never an underestimate).
fn tree_memory(root: Pid) -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let mut procs: Vec<(i32, i32, u64)> = Vec::new();
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        if let Some((ppid, rss)) = parse_stat(&stat) {
            procs.push((pid, ppid, rss));
        }
    }
    sum_tree(root.as_raw(), &procs) * page_size()
}

/// `(ppid, rss pages)` from `/proc/PID/stat`; the command name may hold anything, so
/// fields are counted after its closing parenthesis.
fn parse_stat(stat: &str) -> Option<(i32, u64)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state(0) ppid(1) ... rss is field 24 of the line, 22 here.
    Some((fields.get(1)?.parse().ok()?, fields.get(21)?.parse().ok()?))
}

/// Pages of `root` and its descendants in a `(pid, ppid, rss)` table, in one pass over
/// it (a fork bomb makes the table long exactly when this must stay cheap).
fn sum_tree(root: i32, procs: &[(i32, i32, u64)]) -> u64 {
    let mut children: HashMap<i32, Vec<usize>> = HashMap::new();
    let mut own = None;
    for (i, &(pid, ppid, _)) in procs.iter().enumerate() {
        children.entry(ppid).or_default().push(i);
        if pid == root {
            own = Some(i);
        }
    }
    let mut total = 0;
    let mut frontier: Vec<usize> = own.into_iter().collect();
    let mut seen = HashSet::new();
    while let Some(i) = frontier.pop() {
        let (pid, _, rss) = procs[i];
        if !seen.insert(pid) {
            continue;
        }
        total += rss;
        frontier.extend(children.get(&pid).into_iter().flatten());
    }
    total
}

fn page_size() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .map_or(4096, |n| n as u64)
}

/// `512 MiB`, `12.0 GiB`.
pub fn human_bytes(n: u64) -> String {
    const GIB: u64 = 1 << 30;
    const MIB: u64 = 1 << 20;
    if n >= GIB {
        format!("{:.1} GiB", n as f64 / GIB as f64)
    } else {
        format!("{} MiB", n.div_ceil(MIB))
    }
}

/// `90 s`, `10 min`, `1 h 30 min`.
pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0 => format!("{} ms", d.as_millis()),
        1..120 => format!("{s} s"),
        _ if s % 3600 == 0 => format!("{} h", s / 3600),
        120..7200 => format!("{} min", s / 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

/// Parses `512M`, `2G`, `1.5GiB`, `1073741824` (bytes).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size (try 512M or 4G)"))?;
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => {
            return Err(format!(
                "`{text}`: unknown unit `{unit}` (use K, M, G or T)"
            ));
        }
    };
    let bytes = value * scale as f64;
    if !bytes.is_finite() || bytes < (16 << 20) as f64 || bytes > u64::MAX as f64 / 2.0 {
        return Err(format!(
            "`{text}` is out of range (at least 16M; builds need more than that)"
        ));
    }
    Ok(bytes as u64)
}

/// Parses `90s`, `10m`, `1h`, `1h30m`, `500ms`, or plain seconds; `0` means none.
pub fn parse_duration(text: &str) -> Result<Option<Duration>, String> {
    let t = text.trim();
    let bad = || format!("`{text}` is not a duration (try 90s, 10m or 1h)");
    if let Ok(secs) = t.parse::<u64>() {
        return Ok((secs > 0).then(|| Duration::from_secs(secs)));
    }
    let mut total = Duration::ZERO;
    let mut rest = t;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let part = match unit {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" | "min" => Duration::from_secs(n.checked_mul(60).ok_or_else(bad)?),
            "h" => Duration::from_secs(n.checked_mul(3600).ok_or_else(bad)?),
            _ => return Err(bad()),
        };
        total = total.checked_add(part).ok_or_else(bad)?;
    }
    Ok((!total.is_zero()).then_some(total))
}

/// Half of this machine's memory: the default memory limit.
pub fn default_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kb: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024 / 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations() {
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert_eq!(parse_size("1.5GiB"), Ok(3 << 29));
        assert!(parse_size("1k").is_err(), "too small");
        assert!(parse_size("lots").is_err());
        assert!(parse_size("5X").is_err());
        assert_eq!(parse_duration("90s"), Ok(Some(Duration::from_secs(90))));
        assert_eq!(parse_duration("1h30m"), Ok(Some(Duration::from_secs(5400))));
        assert_eq!(
            parse_duration("250ms"),
            Ok(Some(Duration::from_millis(250)))
        );
        assert_eq!(parse_duration("45"), Ok(Some(Duration::from_secs(45))));
        assert_eq!(parse_duration("0"), Ok(None));
        for bad in ["", "s", "10x", "-5s", "99999999999999999999h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(human_duration(Duration::from_secs(90)), "90 s");
        assert_eq!(human_duration(Duration::from_secs(600)), "10 min");
        assert_eq!(human_duration(Duration::from_secs(3600)), "1 h");
        assert_eq!(human_bytes(512 << 20), "512 MiB");
    }

    #[test]
    fn stat_lines_and_trees() {
        let line = "42 (a) b) c) S 7 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 99 1000 250 x";
        assert_eq!(parse_stat(line), Some((7, 250)));
        let procs = [(1, 0, 10), (2, 1, 20), (3, 2, 30), (4, 99, 1000)];
        assert_eq!(sum_tree(1, &procs), 60);
        assert_eq!(sum_tree(2, &procs), 50);
        assert_eq!(sum_tree(7, &procs), 0, "gone");
    }
}
