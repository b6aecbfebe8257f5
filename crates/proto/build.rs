//! Compiles `proto/govstream/v1/*.proto` with the protoc shipped by `protoc-bin-vendored`, so no
//! protoc has to be installed, and generates serde impls following the proto3 JSON mapping.
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let protos: Vec<PathBuf> = std::fs::read_dir(root.join("govstream/v1"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "proto"))
        .collect();
    println!(
        "cargo:rerun-if-changed={}",
        root.join("govstream/v1").display()
    );
    for p in &protos {
        println!("cargo:rerun-if-changed={}", p.display());
    }
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    let descriptors = out.join("govstream_descriptor.bin");
    let mut config = prost_build::Config::new();
    config
        .protoc_executable(protoc)
        .file_descriptor_set_path(&descriptors);
    config.compile_protos(&protos, &[root])?;
    let set = std::fs::read(&descriptors)?;
    pbjson_build::Builder::new()
        .register_descriptors(&set)?
        .build(&[".govstream"])?;
    Ok(())
}
