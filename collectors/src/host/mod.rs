//! Host collectors: node_exporter's `node_*` families, one module each.

pub mod cpufreq;
pub mod hwmon;
pub mod loadavg;
pub mod os;
pub mod powersupplyclass;
pub mod selinux;
pub mod textfile;
pub mod thermal_zone;
pub mod time;
pub mod timex;
pub mod uname;
