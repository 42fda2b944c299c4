//! The `collector.container.*` flags, parsed once for all the container groups.

use std::path::PathBuf;

use regex::Regex;

use super::flags;
use super::runtime::StateDirs;
use crate::collector::Settings;
use crate::options::Flag;

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
        let labels = o.get(&flags::LABELS);
        let cadvisor_labels = match labels.as_str() {
            "kubelet" | "" => false,
            "cadvisor" => true,
            other => {
                return Err(format!(
                    "invalid --{} {other:?} (kubelet|cadvisor)",
                    flags::LABELS.name()
                ))
            }
        };
        let dir = |flag: &Flag<String>| r.root(o.get(flag));
        Ok(Config {
            include: o.get(&flags::CGROUP_INCLUDE)?,
            exclude: o.get(&flags::CGROUP_EXCLUDE)?,
            max_depth: o.get(&flags::MAX_DEPTH)?,
            timestamps: o.get(&flags::TIMESTAMPS),
            cadvisor_labels,
            allowlist: o
                .get(&flags::LABEL_ALLOWLIST)
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            state: StateDirs {
                docker: dir(&flags::DOCKER_ROOT),
                containerd: dir(&flags::CONTAINERD_STATE),
                crio: vec![dir(&flags::CRIO_ROOT), dir(&flags::CRIO_RUNROOT)],
            },
            pod_log_dir: dir(&flags::POD_LOG_DIR),
            container_log_dir: dir(&flags::CONTAINER_LOG_DIR),
            pressure_pod_level: o.get(&flags::PRESSURE_POD_LEVEL),
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
        let settings = |flag: &crate::FlagSpec, value: &str| {
            let mut o = crate::options::Options::default();
            o.set_spec(flag, vec![value.to_string()]);
            Settings::new(Roots::default(), o)
        };
        let ok = Config::from_settings(&settings(&flags::LABELS.spec, "cadvisor"));
        assert!(ok.is_ok_and(|c| c.cadvisor_labels && c.allowlist.len() == 3));
        let bad = Config::from_settings(&settings(&flags::LABELS.spec, "docker"));
        assert!(bad.unwrap_err().contains("collector.container.labels"));
        let bad = Config::from_settings(&settings(&flags::CGROUP_EXCLUDE.spec, "("));
        assert!(bad
            .unwrap_err()
            .contains("collector.container.cgroup-exclude"));
        let bad = Config::from_settings(&settings(&flags::MAX_DEPTH.spec, "-1"));
        assert!(bad.unwrap_err().contains("collector.container.max-depth"));
        let default = Config::from_settings(&settings(&flags::TIMESTAMPS.spec, "false"))
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
