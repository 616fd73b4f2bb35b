//! The console's wasm entry point. Built for `wasm32-unknown-unknown` by
//! `scripts/build-console.sh`; on other targets it only says how to build it.

#[cfg(target_arch = "wasm32")]
fn main() {
    pacer_web::launch();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("pacer-web runs in a browser: build it with scripts/build-console.sh");
    std::process::exit(2);
}
