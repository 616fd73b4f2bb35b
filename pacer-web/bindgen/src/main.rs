//! `pacer-bindgen WASM OUT_DIR`: writes the console's `pacer-web.js` and `pacer-web_bg.wasm`
//! into OUT_DIR, exactly as `wasm-bindgen --target web --no-typescript --remove-name-section
//! --remove-producers-section --out-name pacer-web` would, through wasm-bindgen's own library
//! (`wasm-bindgen-cli-support`). Building this takes a fraction of installing the whole CLI,
//! whose test runner, HTTP server and TLS stack the console does not need.

use std::path::PathBuf;
use std::process::ExitCode;
use wasm_bindgen_cli_support::Bindgen;

fn main() -> ExitCode {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [wasm, out_dir] = args.as_slice() else {
        eprintln!("usage: pacer-bindgen WASM OUT_DIR");
        return ExitCode::from(2);
    };
    let mut bindgen = Bindgen::new();
    let generated = bindgen.web(true).and_then(|b| {
        b.input_path(wasm)
            .out_name("pacer-web")
            .typescript(false)
            .remove_name_section(true)
            .remove_producers_section(true)
            .omit_default_module_path(false)
            .generate(out_dir)
    });
    match generated {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("pacer-bindgen: {error:#}");
            ExitCode::FAILURE
        }
    }
}
