//! Test helpers shared by the tests of `nodex` (`tests/`) and of `nodex-collectors`
//! (`collectors/tests/`, its unit tests): the one copy of each. A dev-dependency only; it does
//! not depend on the collectors, so the collectors' own unit tests can use it too.
//!
//! - [`process`]: prerequisites (root, CI), running commands, polling, unique names;
//! - [`containers`]: Docker and containerd (`ctr`) helpers and guards that remove what a test
//!   made even when it fails;
//! - [`golden`]: comparing output with a golden file (`UPDATE_GOLDEN=1` rewrites it);
//! - [`text`]: looking up samples in a text exposition, copying fixture trees;
//! - [`pods`]: the kubelet pod layout of the project quota tests.

pub mod containers;
pub mod golden;
pub mod pods;
pub mod process;
pub mod text;

pub use containers::{ctr, docker, BusyboxImage, Cleanup};
pub use process::{eventually, have, is_root, poll, run, run_ok, skip_unless_ci, unique_tag};
pub use text::{copy_tree, line, value};
