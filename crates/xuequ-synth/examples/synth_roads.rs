//! Writes a synthetic walking network (`.osm.pbf`) of about ROAD_NODES street nodes: a
//! jittered street grid around central Wuxi with arterials, canals and a railway, and
//! BUILDINGS_PER_CELL square buildings in each cell (for load benchmarks).
//!
//! `cargo run --release -p xuequ-synth --example synth_roads -- 800000 100 3 big.osm.pbf`

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 5 {
        return Err("usage: synth_roads ROAD_NODES SPACING_M BUILDINGS_PER_CELL OUT.osm.pbf".into());
    }
    let nodes: u64 = args[1].parse()?;
    let spacing: f64 = args[2].parse()?;
    let buildings: usize = args[3].parse()?;
    let out = std::path::Path::new(&args[4]);
    let s = xuequ_synth::write_synthetic_network(out, nodes, spacing, buildings, xuequ_synth::DEFAULT_SEED)?;
    let bytes = std::fs::metadata(out)?.len();
    println!(
        "{}: {} nodes, {} ways, {} m spacing, {:.1} MB",
        out.display(),
        s.nodes,
        s.ways,
        s.spacing_m,
        bytes as f64 / 1e6
    );
    Ok(())
}
