//! Node.js test peers (`scripts/install-node-peers.sh`): the repository's `.mjs` tools (`tools/`) are copied next
//! to the cached `node_modules` so their imports resolve, then run as child processes.

use std::path::PathBuf;
use std::process::Command;

fn node_dir() -> PathBuf {
    let peers = match std::env::var_os("PACER_PEERS_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/pacer/peers"),
    };
    let dir = peers.join("node");
    assert!(
        dir.join("node_modules/graphql-ws").exists(),
        "the Node test peers are not installed ({} is missing): run scripts/install-node-peers.sh",
        dir.join("node_modules").display()
    );
    dir
}

/// `node <tool>` with the tool (`tools/<path>`) placed beside the peers' node_modules.
pub fn tool(path: &str) -> Command {
    script(&super::repo_dir().join("tools").join(path))
}

/// `node <source>` with the script placed beside the peers' node_modules.
pub fn script(source: &std::path::Path) -> Command {
    let name = source.file_name().expect("a file name").to_owned();
    let dir = node_dir();
    let target = dir.join(&name);
    // Copy under a unique name, then rename: concurrent tests never see a half-written file.
    static COPIES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let copy = COPIES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let partial = dir.join(format!(".{}.{}.{copy}", name.to_string_lossy(), std::process::id()));
    std::fs::copy(source, &partial).unwrap_or_else(|e| panic!("copy {}: {e}", source.display()));
    std::fs::rename(&partial, &target).expect("place the tool");
    let mut command = Command::new("node");
    command.arg(target).current_dir(dir);
    command
}
