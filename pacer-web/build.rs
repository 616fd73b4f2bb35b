//! Registers the server's committed `schema.graphql` with cynic, so every typed operation in
//! `src/api/ops.rs` is checked against it when the console compiles (the file is read, the
//! server crate is not a dependency).

fn main() {
    let schema = "../pacer-server/schema.graphql";
    println!("cargo:rerun-if-changed={schema}");
    let registered =
        cynic_codegen::register_schema("pacer").from_sdl_file(schema).and_then(|schema| schema.as_default());
    if let Err(e) = registered {
        panic!("registering {schema} with cynic: {e}");
    }
}
