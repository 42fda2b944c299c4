//! Every collector nodex knows, in one list. Adding a collector is one line here plus its module.

use crate::collector::CollectorInfo;
use crate::host;

/// All registered collectors, sorted by name.
pub fn all() -> Vec<CollectorInfo> {
    let mut list = vec![host::loadavg::INFO];
    list.push(crate::container::cpu::INFO);
    list.push(crate::container::memory::INFO);
    list.push(crate::container::spec::INFO);
    list.push(crate::container::process::INFO);
    list.push(crate::container::network::INFO);
    list.push(crate::container::oom::INFO);
    list.push(crate::container::pressure::INFO);
    list.push(crate::container::diskio::INFO);
    list.push(crate::container::machine::INFO);
    list.sort_by_key(|c| c.name);
    list
}

/// Looks a collector up by name.
pub fn find(name: &str) -> Option<CollectorInfo> {
    all().into_iter().find(|c| c.name == name)
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_are_unique() {
        let all = super::all();
        for pair in all.windows(2) {
            assert_ne!(pair[0].name, pair[1].name, "collector registered twice");
        }
    }
}
