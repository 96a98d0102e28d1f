//! "Hosts" for multi-host tests: Linux network namespaces joined by veth pairs to a bridge that
//! lives in a switch namespace of its own, so every address is a namespace address (never
//! loopback, never the machine's own network) and the test can cut a host off and bring it
//! back by taking its link down and up. Everything is removed on drop, processes first.
//!
//! Needs root and `ip` (iproute2). [`Net::create`] returns `None`, with the reason, where that
//! is unavailable, and the caller skips with a clear message.

use std::process::{Child, Command, Stdio};

/// The test subnet: TEST-NET-1 (RFC 5737), documentation addresses nothing routes to; the hosts
/// are `192.0.2.<n>`.
pub const SUBNET: &str = "192.0.2";

/// A set of namespaces ("hosts") on one bridge.
pub struct Net {
    prefix: String,
    hosts: Vec<String>,
    children: Vec<Child>,
}

impl Net {
    /// Creates `count` hosts, `h1` .. `h<count>` with addresses `192.0.2.1` .. `.count`, or says
    /// why it cannot.
    pub fn create(count: usize) -> Result<Net, String> {
        use std::os::unix::fs::MetadataExt;
        // /proc/self belongs to the process's effective user.
        if std::fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(1) != 0 {
            return Err("needs root to create network namespaces".into());
        }
        // A short, unique prefix: interface names are limited to 15 bytes.
        let prefix = format!("rq{}", std::process::id() % 100_000);
        let mut net = Net { prefix, hosts: Vec::new(), children: Vec::new() };
        net.ip(&["netns", "add", &net.switch()])?;
        net.ip(&["-n", &net.switch(), "link", "add", "br0", "type", "bridge"])?;
        net.ip(&["-n", &net.switch(), "link", "set", "br0", "up"])?;
        for n in 1..=count {
            net.add_host(n)?;
        }
        Ok(net)
    }

    fn switch(&self) -> String {
        format!("{}-sw", self.prefix)
    }

    fn add_host(&mut self, n: usize) -> Result<(), String> {
        let ns = format!("{}-h{n}", self.prefix);
        let (inner, outer) = (format!("{}h{n}a", self.prefix), format!("{}h{n}b", self.prefix));
        self.ip(&["netns", "add", &ns])?;
        self.hosts.push(ns.clone());
        self.ip(&["link", "add", &inner, "netns", &ns, "type", "veth", "peer", "name", &outer])?;
        self.ip(&["link", "set", &outer, "netns", &self.switch()])?;
        self.ip(&["-n", &self.switch(), "link", "set", &outer, "master", "br0", "up"])?;
        self.ip(&["-n", &ns, "addr", "add", &format!("{SUBNET}.{n}/24"), "dev", &inner])?;
        self.ip(&["-n", &ns, "link", "set", &inner, "up"])?;
        self.ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        Ok(())
    }

    /// The address of host `n`.
    pub fn addr(n: usize) -> String {
        format!("{SUBNET}.{n}")
    }

    /// Starts `program args` inside host `n`; it is killed when the net is dropped.
    pub fn spawn(&mut self, n: usize, program: &str, args: &[&str], env: &[(&str, &str)]) -> u32 {
        let child = Command::new("ip")
            .args(["netns", "exec", &self.hosts[n - 1], program])
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            // Boot lines and a child test harness's summary would only confuse the parent's
            // output; stderr (logs, panics) stays.
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {program} in host {n}: {e}"));
        let pid = child.id();
        self.children.push(child);
        pid
    }

    /// A started process that has exited, described, if any.
    pub fn exited(&mut self) -> Option<String> {
        self.children.iter_mut().find_map(|c| match c.try_wait() {
            Ok(Some(status)) => Some(format!("process {} ({status})", c.id())),
            _ => None,
        })
    }

    /// Runs `program args` inside host `n` to completion; its output.
    pub fn run(&self, n: usize, program: &str, args: &[&str]) -> std::process::Output {
        Command::new("ip")
            .args(["netns", "exec", &self.hosts[n - 1], program])
            .args(args)
            .env("RMQ_LOG_DIR", "-")
            .output()
            .unwrap_or_else(|e| panic!("cannot run {program} in host {n}: {e}"))
    }

    /// Cuts host `n` off the network (its switch port goes down) or brings it back.
    pub fn set_connected(&self, n: usize, up: bool) {
        let port = format!("{}h{n}b", self.prefix);
        let state = if up { "up" } else { "down" };
        self.ip(&["-n", &self.switch(), "link", "set", &port, state]).expect("switch port");
    }

    fn ip(&self, args: &[&str]) -> Result<(), String> {
        let out = Command::new("ip").args(args).output().map_err(|e| format!("ip: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
        }
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        for ns in self.hosts.iter().chain(std::iter::once(&self.switch())) {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}
