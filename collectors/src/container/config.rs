//! The `collector.container.*` flags, parsed once for all the container groups.

use std::path::PathBuf;

use regex::Regex;

use super::runtime::StateDirs;
use crate::collector::Settings;

/// The container flags, parsed once when the first group is built.
#[derive(Debug)]
pub struct Config {
    pub(super) include: Option<Regex>,
    pub(super) exclude: Option<Regex>,
    pub(super) max_depth: usize,
    /// Whether stats samples carry explicit timestamps.
    pub timestamps: bool,
    pub(super) cadvisor_labels: bool,
    pub(super) allowlist: Vec<String>,
    pub(super) state: StateDirs,
    pub(super) pod_log_dir: PathBuf,
    pub(super) container_log_dir: PathBuf,
    /// Whether PSI is emitted for pod and sandbox cgroups too.
    pub pressure_pod_level: bool,
}

impl Config {
    /// Reads the `collector.container.*` flags; errors name the flag.
    pub fn from_settings(settings: &Settings) -> Result<Self, String> {
        let o = &settings.options;
        let r = &settings.roots;
        let labels = o.value("collector.container.labels");
        let cadvisor_labels = match labels.as_str() {
            "kubelet" | "" => false,
            "cadvisor" => true,
            other => {
                return Err(format!(
                    "invalid --collector.container.labels {other:?} (kubelet|cadvisor)"
                ))
            }
        };
        let dir = |flag: &str| r.root(o.value(flag));
        Ok(Config {
            include: o.regex("collector.container.cgroup-include")?,
            exclude: o.regex("collector.container.cgroup-exclude")?,
            max_depth: o.usize("collector.container.max-depth")?,
            timestamps: o.bool("collector.container.timestamps"),
            cadvisor_labels,
            allowlist: o
                .value("collector.container.label-allowlist")
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            state: StateDirs {
                docker: dir("collector.container.docker-root"),
                containerd: dir("collector.container.containerd-state"),
                crio: vec![
                    dir("collector.container.crio-root"),
                    dir("collector.container.crio-runroot"),
                ],
            },
            pod_log_dir: dir("collector.container.pod-log-dir"),
            container_log_dir: dir("collector.container.container-log-dir"),
            pressure_pod_level: o.bool("collector.container.pressure-pod-level"),
        })
    }
}

impl Config {
    /// True when cgroup `id` passes `--collector.container.cgroup-{include,exclude}`.
    pub fn wanted(&self, id: &str) -> bool {
        crate::options::device_allowed(id, self.include.as_ref(), self.exclude.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roots::Roots;

    #[test]
    fn flags_are_checked() {
        let settings = |flag: &str, value: &str| {
            let mut o = crate::options::Options::with_defaults();
            o.set(flag, value);
            Settings::new(Roots::default(), o)
        };
        let ok = Config::from_settings(&settings("collector.container.labels", "cadvisor"));
        assert!(ok.is_ok_and(|c| c.cadvisor_labels && c.allowlist.len() == 3));
        let bad = Config::from_settings(&settings("collector.container.labels", "docker"));
        assert!(bad.unwrap_err().contains("collector.container.labels"));
        let bad = Config::from_settings(&settings("collector.container.cgroup-exclude", "("));
        assert!(bad
            .unwrap_err()
            .contains("collector.container.cgroup-exclude"));
        let bad = Config::from_settings(&settings("collector.container.max-depth", "-1"));
        assert!(bad.unwrap_err().contains("collector.container.max-depth"));
        let default = Config::from_settings(&settings("collector.container.timestamps", "false"))
            .expect("defaults are valid");
        let exclude = default.exclude.expect("default exclude");
        assert!(exclude.is_match("/system.slice/var-lib-docker.mount"));
        assert!(exclude.is_match(&format!(
            "/kubepods.slice/x.slice/crio-conmon-{}.scope",
            "a".repeat(64)
        )));
        assert!(!exclude.is_match("/system.slice/docker.service"));
    }
}
