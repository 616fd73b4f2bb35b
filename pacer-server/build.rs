//! Embeds the built console (`scripts/build-console.sh` writes it to
//! `$CARGO_TARGET_DIR/console/dist`, or set `PACER_CONSOLE_DIR`) into the binary: generates a
//! table of (path, bytes) that `src/http/console.rs` serves. Without a built console the table is
//! empty and the binary answers console routes with a 404 saying how to build it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn files(dir: &Path, base: &Path, out: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            files(&path, base, out);
        } else if let Ok(relative) = path.strip_prefix(base) {
            let route = format!("/{}", relative.to_string_lossy().replace('\\', "/"));
            out.push((route, path));
        }
    }
}

fn main() {
    println!("cargo:rerun-if-env-changed=PACER_CONSOLE_DIR");
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default());
    let dist = match std::env::var_os("PACER_CONSOLE_DIR") {
        Some(dir) => PathBuf::from(dir),
        // OUT_DIR is <target>/<profile>/build/<pkg>/out.
        None => out_dir.ancestors().nth(4).map(|target| target.join("console/dist")).unwrap_or_default(),
    };
    // A path that does not exist would make Cargo rerun this on every build (the fuzz builds
    // have no console): without one, build the console first, then the server.
    if dist.exists() {
        println!("cargo:rerun-if-changed={}", dist.display());
    } else {
        println!("cargo:rerun-if-changed=build.rs");
    }
    let mut found = Vec::new();
    if dist.join("index.html").is_file() {
        files(&dist, &dist, &mut found);
    }
    let mut code = String::from(
        "/// The embedded console: (route, bytes).\npub(crate) static ASSETS: &[(&str, &[u8])] = &[\n",
    );
    for (route, path) in &found {
        println!("cargo:rerun-if-changed={}", path.display());
        let _ = writeln!(code, "    ({route:?}, include_bytes!({:?})),", path.display().to_string());
    }
    code.push_str("];\n");
    if let Err(e) = std::fs::write(out_dir.join("console_assets.rs"), code) {
        println!("cargo:warning=cannot write the console table: {e}");
    }
}
