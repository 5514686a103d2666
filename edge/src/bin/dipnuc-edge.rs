//! `dipnuc-edge`: the daemon that runs beside the camera.
fn main() -> anyhow::Result<()> {
    Ok(())
}
